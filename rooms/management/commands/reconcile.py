"""Report every difference between the portal and ACS, and repair it on request.

The words for what rooms.drift finds live here (describe()); the admin's resync action uses them.
"""

import sys
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

import acs_gateway as acs
from outbox import engine
from outbox.models import SyncState
from portal.ids import parse_id
from portal.services import require
from rooms import drift, repairs, services
from rooms.management import find_actor
from rooms.models import Room

# The order, and the headings, of the groups the command prints.
GROUPS = (
    ("only_in_portal", "Only in the portal"),
    ("only_in_acs", "Only in ACS"),
    ("lost_creates", "Made by a lost create (a person must choose)"),
    ("fields", "Field differences"),
    ("roster", "Roster differences"),
    ("pending", "Pending push (not drift)"),
)
# Why a room_fix left a room as it was, by the state it returned.
NOT_FIXED = {
    "busy": "a sync worker is pushing it now and will push it again after",
    "changed": "it changed while being compared; run reconcile again",
    "gone": "it was deleted meanwhile",
}


def when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _show(name: str, value) -> str:
    if name == "pstn_dial_out_enabled":
        return "on" if value else "off"
    return when(value)


def room_label(room: Room) -> str:
    acs_part = f" (ACS {room.acs_id})" if room.acs_id else ""
    return f'room {room.pk} "{room.title}"{acs_part}'


def _window(acs_room: acs.AcsRoom) -> str:
    return f"valid {when(acs_room.valid_from)} to {when(acs_room.valid_until)}"


def describe(finding) -> tuple[str, str]:
    """What one finding of rooms.drift is about, and what it says of it, in one sentence.

    ('room 3 "Planning" (ACS 99)', 'ACS has no such room'): the command prints both, the admin
    (which names the room itself) the second.
    """
    match finding:
        case drift.OnlyInPortal(room=room):
            return room_label(room), "ACS has no such room"
        case drift.OnlyInAcs(acs_room=acs_room):
            pstn = "on" if acs_room.pstn_dial_out_enabled else "off"
            return (
                f"ACS room {acs_room.id}",
                f"no portal room owns it ({_window(acs_room)}, PSTN dial-out {pstn})",
            )
        case drift.LostCreate(acs_room=acs_room, rooms=rooms):
            who = ", ".join(room_label(room) for room in rooms)
            return (
                f"ACS room {acs_room.id}",
                f"no portal room owns it; the lost create of {who} may have made it "
                f"({_window(acs_room)}). If it is that room's, link it: "
                f"manage.py reconcile --adopt {rooms[0].pk} {acs_room.id}",
            )
        case drift.FieldDifference(room=room, field=name, portal=mine, acs=theirs):
            return (
                room_label(room),
                f"{name} is {_show(name, mine)} in the portal, {_show(name, theirs)} in ACS",
            )
        case drift.RosterDifference(room=room, raw_id=raw_id, name=name):
            who = f"{raw_id} ({name})" if name and name != raw_id else raw_id
            role, acs_role = finding.portal_role, finding.acs_role
            portal = f"is {role} in the portal" if role else "is not in the portal"
            in_acs = f"{acs_role} in ACS" if acs_role else "not in ACS"
            return room_label(room), f"{who} {portal}, {in_acs}"
        case drift.NotCreatedYet(room=room):
            text = "not created in ACS yet"
            entry = room.sync
            if entry and entry.state in (SyncState.FAILED, SyncState.STOPPED) and entry.last_error:
                text += f"; the last push failed ({entry.last_error})"
            return room_label(room), text
        case drift.ChangeQueued(change=change):
            subject, what = describe(change)
            return subject, f"a portal change waits to be pushed ({what})"
        case drift.PeopleNotCreatedYet(room=room, count=count):
            return room_label(room), f"{count} participant(s) not created in ACS yet"
        case drift.RemovalQueued(acs_id=acs_id):
            return f"ACS room {acs_id}", "deleted in the portal; its removal from ACS is pending"
        case drift.LinkQueued(acs_room=acs_room, rooms=rooms):
            labels = ", ".join(room_label(room) for room in rooms)
            return (
                f"ACS room {acs_room.id}",
                f"the lost create of {labels} may have made it; its next push links it, or "
                "stops for a person if it cannot tell",
            )
        case drift.CreateInFlight(acs_room=acs_room):
            return (
                f"ACS room {acs_room.id}",
                "made moments ago, maybe by a create whose answer is still on its way",
            )
    raise TypeError(f"Nothing says what {finding!r} is.")


def line(finding) -> str:
    subject, text = describe(finding)
    return f"{subject}: {text}."


class ProgressBar:
    """A one-line text bar redrawn in place on stderr; silent unless enabled."""

    WIDTH = 30

    def __init__(self, stream: OutputWrapper, *, enabled: bool):
        self.stream = stream
        self.enabled = enabled
        self.drawn = ""

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = self.WIDTH * done // total
        text = f"\rReading rosters [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
        # Redraw only when the text changes: thousands of rooms need not mean thousands of writes.
        if text != self.drawn:
            self.stream.write(text, ending="")
            self.stream.flush()
            self.drawn = text

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * len(self.drawn) + "\r", ending="")
            self.stream.flush()
            self.drawn = ""


class Command(BaseCommand):
    help = (
        "Compare the portal's rooms with ACS and print every difference; exit 1 if drift "
        "remains. --fix makes ACS match the portal; --import adopts rooms only ACS holds; "
        "--adopt ROOM ACS_ID links a room whose create answer was lost to its ACS room. "
        "Every repair is made as --actor (default: the first superuser), with their permissions."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix",
            action="store_true",
            help="Push each drifted room so ACS matches the portal; delete rooms only in ACS.",
        )
        parser.add_argument(
            "--import",
            action="store_true",
            dest="import_rooms",
            help="Adopt rooms only ACS holds as portal rooms (instead of deleting them).",
        )
        parser.add_argument(
            "--adopt",
            nargs=2,
            metavar=("ROOM", "ACS_ID"),
            help="Link portal room ROOM, whose create answer was lost, to ACS room ACS_ID "
            "(the candidates are in its sync error), then push it. Compares nothing else.",
        )
        parser.add_argument(
            "--actor",
            "--as",
            metavar="USERNAME",
            help="Who repairs (their permissions apply; the history names them) and owns "
            "imported rooms; default: the first active superuser.",
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            help="Show the progress bar even when stderr is not a terminal.",
        )

    def handle(
        self,
        *args,
        fix: bool,
        import_rooms: bool,
        adopt: list[str] | None,
        actor: str | None,
        progress: bool,
        **opts,
    ):
        if adopt:
            room_id, acs_id = adopt
            self._adopt(room_id, acs_id, find_actor(actor))
            return
        # Looked up (and their permissions checked) before ACS is read: a refused actor learns
        # it at once, not after a long comparison.
        actor_user = find_actor(actor) if fix or import_rooms else None
        if fix:
            _require(actor_user, "rooms.change_room", "repair rooms in ACS")
            _require(actor_user, "rooms.delete_room", "delete rooms only ACS holds")
        bar = ProgressBar(self.stderr, enabled=progress or self.stderr.isatty())
        try:
            found = drift.drift(progress=bar.update)
        except acs.AcsError as exc:
            raise CommandError(f"Could not read ACS, so nothing was compared: {exc}") from exc
        finally:
            bar.close()

        self._report(found)
        differences = found.differences
        if not differences:
            self.stdout.write("No drift.")
            return
        remaining = len(differences)
        if fix:
            for room_differences in found.by_room().values():
                if self._fix(room_differences, actor_user):
                    remaining -= len(room_differences)
        for orphan in found.only_in_acs:
            if import_rooms:
                remaining -= self._import(orphan.acs_room, actor_user)
            elif fix:
                remaining -= self._delete(orphan.acs_room, actor_user)

        if remaining:
            hint = " Run again with --fix (and --import) to repair it."
            if fix or import_rooms:
                hint = ""
            self.stdout.write(f"Drift remains: {_count(remaining, 'difference')}.{hint}")
            sys.exit(1)
        self.stdout.write(f"Repaired all drift ({_count(len(differences), 'difference')}).")

    def _report(self, found: drift.Drift) -> None:
        for group, heading in GROUPS:
            findings = getattr(found, group)
            if findings:
                self.stdout.write(f"{heading} ({len(findings)}):")
                for finding in findings:
                    self.stdout.write(f"  {line(finding)}")

    def _fix(self, differences: list[drift.RoomDifference], actor) -> bool:
        room = differences[0].room
        label = room_label(room)
        state = repairs.room_fix(actor=actor, room=room, differences=differences)
        if state == SyncState.SYNCED:
            self.stdout.write(f"Fixed {label}: ACS now matches the portal.")
            return True
        why = NOT_FIXED.get(state) or f"the push ended {state}: {_sync_error(room)}"
        self.stderr.write(f"Could not fix {label}: {why}.")
        return False

    def _delete(self, acs_room: acs.AcsRoom, actor) -> bool:
        try:
            deleted = repairs.acs_orphan_delete(actor=actor, acs_room=acs_room)
        except acs.AcsError as exc:
            self.stderr.write(f"Could not delete ACS room {acs_room.id}: {exc}.")
            return False
        if deleted:
            self.stdout.write(f"Deleted ACS room {acs_room.id}: no portal room owned it.")
        else:
            self.stdout.write(f"Kept ACS room {acs_room.id}: a portal room owns it now.")
        return True

    def _import(self, acs_room: acs.AcsRoom, actor) -> bool:
        try:
            room = repairs.room_import_from_acs(actor=actor, acs_room=acs_room)
        except (acs.AcsError, ValidationError, PermissionDenied) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.stderr.write(f"Could not import ACS room {acs_room.id}: {message}")
            return False
        people = _count(room.participants.count(), "participant")
        self.stdout.write(f"Imported ACS room {acs_room.id} as room {room.pk} with {people}.")
        return True

    def _adopt(self, room_id: str, acs_id: str, actor) -> None:
        pk = parse_id(room_id)
        room = Room.objects.filter(pk=pk, deleted_at__isnull=True).first() if pk else None
        if room is None:
            raise CommandError(f"There is no room {room_id!r} in the portal.")
        try:
            room = services.room_adopt_acs_room(actor=actor, room=room, acs_id=acs_id)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"Linked {room_label(room)} to ACS room {acs_id}; the sync pushes whatever differs."
        )


def _require(actor, permission: str, what: str) -> None:
    try:
        require(actor, permission, what)
    except PermissionDenied as exc:
        raise CommandError(f"{exc} Name another user with --actor USERNAME.") from exc


def _sync_error(room) -> str:
    entry = engine.entry("room", room.pk)
    return (entry.last_error if entry else "") or "no error recorded"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
