"""Report every difference between the portal and ACS, and repair it on request."""

import sys

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

import acs_gateway as acs
from portal.ids import parse_id
from portal.services import require
from portal.sync import SyncState
from rooms import reconcile, services
from rooms.management import find_actor
from rooms.models import Room


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
            self._adopt(*adopt, find_actor(actor))
            return
        # Looked up (and their permissions checked) before ACS is read: a refused actor learns
        # it at once, not after a long comparison.
        actor_user = find_actor(actor) if fix or import_rooms else None
        if fix:
            _require(actor_user, "rooms.change_room", "repair rooms in ACS")
            _require(actor_user, "rooms.delete_room", "delete rooms only ACS holds")
        bar = ProgressBar(self.stderr, enabled=progress or self.stderr.isatty())
        try:
            differences = reconcile.compare(progress=bar.update)
        except acs.AcsError as exc:
            raise CommandError(f"Could not read ACS, so nothing was compared: {exc}") from exc
        finally:
            bar.close()

        self._report(differences)
        drift = [d for d in differences if d.drift]
        if not drift:
            self.stdout.write("No drift.")
            return
        remaining = len(drift)
        if fix:
            for room_differences in reconcile.by_room(drift).values():
                if self._fix(room_differences, actor_user):
                    remaining -= len(room_differences)
        for orphan in (d for d in drift if isinstance(d, reconcile.OnlyInAcs)):
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
        self.stdout.write(f"Repaired all drift ({_count(len(drift), 'difference')}).")

    def _report(self, differences: list[reconcile.Difference]) -> None:
        for group, heading in reconcile.GROUPS:
            lines = [d.line for d in differences if d.group == group]
            if lines:
                self.stdout.write(f"{heading} ({len(lines)}):")
                for line in lines:
                    self.stdout.write(f"  {line}")

    def _fix(self, differences: list[reconcile.Difference], actor) -> bool:
        room = differences[0].room
        label = reconcile.room_label(room)
        state = reconcile.room_fix(actor=actor, room=room, differences=differences)
        if state == SyncState.SYNCED:
            self.stdout.write(f"Fixed {label}: ACS now matches the portal.")
            return True
        reasons = {
            "busy": "a sync worker is pushing it now and will push it again after",
            "changed": "it changed while being compared; run reconcile again",
            "gone": "it was deleted meanwhile",
        }
        why = reasons.get(state) or f"the push ended {state}: {_sync_error(room)}"
        self.stderr.write(f"Could not fix {label}: {why}.")
        return False

    def _delete(self, acs_room: acs.AcsRoom, actor) -> bool:
        try:
            deleted = reconcile.acs_orphan_delete(actor=actor, acs_room=acs_room)
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
            room = reconcile.import_room(acs_room, actor=actor)
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
            f"Linked {reconcile.room_label(room)} to ACS room {acs_id}; "
            "the sync pushes whatever differs."
        )


def _require(actor, permission: str, what: str) -> None:
    try:
        require(actor, permission, what)
    except PermissionDenied as exc:
        raise CommandError(f"{exc} Name another user with --actor USERNAME.") from exc


def _sync_error(room) -> str:
    room.refresh_from_db(fields=["sync_error"])
    return room.sync_error or "no error recorded"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
