"""Compare the portal's rooms with what ACS holds, and repair a difference in either direction."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

import acs_gateway as acs
from identities.models import Identity
from identities.services import identity_create
from portal import audit
from portal import sync as machinery
from portal.services import require
from portal.sync import SyncState
from rooms import services
from rooms.models import Participant, Room
from rooms.sync import (
    REPEATABILITY_WINDOW,
    desired_state,
    lost_create_match,
    mark_room_dirty,
    push_room,
    valid_from_held,
)

ROOM_FIELDS = ("valid_from", "valid_until", "pstn_dial_out_enabled")
ALREADY_OWNED = "A portal room owns ACS room {acs_id} already."

# The order, and the headings, of the groups the command prints.
GROUPS = (
    ("only_in_portal", "Only in the portal"),
    ("only_in_acs", "Only in ACS"),
    ("lost_create", "Made by a lost create (a person must choose)"),
    ("field", "Field differences"),
    ("roster", "Roster differences"),
    ("pending", "Pending push (not drift)"),
)


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _show(name: str, value) -> str:
    if name == "pstn_dial_out_enabled":
        return "on" if value else "off"
    return _when(value)


def room_label(room: Room) -> str:
    acs_part = f" (ACS {room.acs_id})" if room.acs_id else ""
    return f'room {room.pk} "{room.title}"{acs_part}'


@dataclass(frozen=True)
class Difference:
    """One way the portal and ACS disagree; `line` says it in one sentence."""

    group: ClassVar[str] = ""
    # Pending work is reported but is not drift: the sync worker will push it.
    drift: ClassVar[bool] = True

    @property
    def line(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class OnlyInPortal(Difference):
    room: Room
    group: ClassVar[str] = "only_in_portal"

    @property
    def line(self) -> str:
        return f"{room_label(self.room)}: ACS has no such room."


@dataclass(frozen=True)
class OnlyInAcs(Difference):
    acs_room: acs.AcsRoom
    group: ClassVar[str] = "only_in_acs"

    @property
    def line(self) -> str:
        room = self.acs_room
        pstn = "on" if room.pstn_dial_out_enabled else "off"
        return (
            f"ACS room {room.id}: no portal room owns it (valid {_when(room.valid_from)} to "
            f"{_when(room.valid_until)}, PSTN dial-out {pstn})."
        )


@dataclass(frozen=True)
class MayBeLostCreate(Difference):
    """An ACS room no portal room owns that a stopped room's lost create may have made."""

    acs_room: acs.AcsRoom
    rooms: tuple[Room, ...]
    group: ClassVar[str] = "lost_create"

    @property
    def line(self) -> str:
        room = self.acs_room
        who = ", ".join(room_label(r) for r in self.rooms)
        first = self.rooms[0].pk
        return (
            f"ACS room {room.id}: no portal room owns it; the lost create of {who} may have "
            f"made it (valid {_when(room.valid_from)} to {_when(room.valid_until)}). If it is "
            f"that room's, link it: manage.py reconcile --adopt {first} {room.id}."
        )


@dataclass(frozen=True)
class FieldDifference(Difference):
    room: Room
    field: str
    portal: object
    acs: object
    group: ClassVar[str] = "field"

    @property
    def line(self) -> str:
        return (
            f"{room_label(self.room)}: {self.field} is {_show(self.field, self.portal)} in the "
            f"portal, {_show(self.field, self.acs)} in ACS."
        )


@dataclass(frozen=True)
class ParticipantDifference(Difference):
    room: Room
    raw_id: str
    name: str
    portal_role: str | None
    acs_role: str | None
    group: ClassVar[str] = "roster"

    @property
    def line(self) -> str:
        who = (
            f"{self.raw_id} ({self.name})"
            if self.name and self.name != self.raw_id
            else self.raw_id
        )
        portal = (
            f"is {self.portal_role} in the portal" if self.portal_role else "is not in the portal"
        )
        in_acs = f"{self.acs_role} in ACS" if self.acs_role else "not in ACS"
        return f"{room_label(self.room)}: {who} {portal}, {in_acs}."


@dataclass(frozen=True)
class Pending(Difference):
    subject: str
    reason: str
    group: ClassVar[str] = "pending"
    drift: ClassVar[bool] = False

    @property
    def line(self) -> str:
        return f"{self.subject}: {self.reason}."


def room_differences(
    room: Room,
    acs_room: acs.AcsRoom,
    acs_participants: dict[str, str],
    portal_participants: dict[str, tuple[str, str]],
) -> list[Difference]:
    """How one room differs; portal_participants maps raw id to (role, display name)."""
    differences: list[Difference] = []
    for name in ROOM_FIELDS:
        mine, theirs = getattr(room, name), getattr(acs_room, name)
        if name == "pstn_dial_out_enabled":
            same = bool(mine) == bool(theirs)
        elif name == "valid_from":
            # What the sync sends: the start with the room's fingerprint (rooms.sync).
            same = valid_from_held(room, theirs)
        else:
            same = mine == theirs
        if not same:
            differences.append(FieldDifference(room=room, field=name, portal=mine, acs=theirs))
    for raw_id in sorted(portal_participants.keys() | acs_participants.keys()):
        role, name = portal_participants.get(raw_id, (None, ""))
        acs_role = acs_participants.get(raw_id)
        if role != acs_role:
            differences.append(
                ParticipantDifference(
                    room=room, raw_id=raw_id, name=name, portal_role=role, acs_role=acs_role
                )
            )
    return differences


def _portal_rosters() -> tuple[dict[int, dict[str, tuple[str, str]]], dict[int, int]]:
    """Every compared room's roster in one query, and how many of its people ACS lacks yet."""
    rosters: dict[int, dict[str, tuple[str, str]]] = {}
    unpushed: dict[int, int] = {}
    # The same people desired_state() sends: deleted identities are no longer wanted in ACS.
    rows = Participant.objects.filter(
        room__deleted_at__isnull=True,
        room__acs_id__isnull=False,
        identity__deleted_at__isnull=True,
    ).values_list("room_id", "identity__raw_id", "role", "identity__display_name")
    for room_id, raw_id, role, name in rows.iterator(chunk_size=2000):
        if raw_id is None:
            unpushed[room_id] = unpushed.get(room_id, 0) + 1
        else:
            rosters.setdefault(room_id, {})[raw_id] = (role, name)
    return rosters, unpushed


def compare(
    *,
    gateway: acs.AcsGateway | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> list[Difference]:
    """Every difference between the portal's live rooms and ACS's rooms, pending work included.

    Costs the pages of one list_rooms plus one list_participants per room both sides hold.
    """
    gateway = gateway or acs.get_gateway()
    now = now or timezone.now()
    acs_rooms = {room.id: room for room in gateway.list_rooms()}
    rooms = list(Room.objects.filter(deleted_at__isnull=True).order_by("pk"))
    rosters, unpushed = _portal_rosters()
    differences: list[Difference] = []

    matched = [room for room in rooms if room.acs_id and room.acs_id in acs_rooms]
    for room in rooms:
        if not room.acs_id:
            differences.append(Pending(subject=room_label(room), reason=_why_pending(room)))
        elif room.acs_id not in acs_rooms and room.valid_until > now:
            differences.append(OnlyInPortal(room=room))
        # A room past its end that ACS no longer lists expired there, as it should: no drift.

    for done, room in enumerate(matched, start=1):
        try:
            held = gateway.list_participants(room.acs_id)
        except acs.AcsNotFound:
            # Deleted, or expired, between the two reads.
            if room.valid_until > now:
                differences.append(OnlyInPortal(room=room))
            held = None
        if held is not None:
            differences += [
                _as_pending(room, difference) if _waiting_for_push(room, difference) else difference
                for difference in room_differences(
                    room, acs_rooms[room.acs_id], held, rosters.get(room.pk, {})
                )
            ]
            if unpushed.get(room.pk):
                differences.append(
                    Pending(
                        subject=room_label(room),
                        reason=f"{unpushed[room.pk]} participant(s) not created in ACS yet",
                    )
                )
        if progress is not None:
            progress(done, len(matched))

    differences += _unowned(acs_rooms, now)
    return differences


def _waiting_for_push(room: Room, difference: Difference) -> bool:
    """True when ACS still holds what the portal last pushed and the portal changed since.

    That is the sync's queue, not drift: reporting it would make a cron job on the exit status
    flap whenever the worker is behind. ACS holding anything else is drift, pending or not.
    """
    if room.sync_generation == room.synced_generation:
        return False
    pushed = room.acs_state or {}
    if isinstance(difference, FieldDifference):
        last = pushed.get(difference.field)
        if last is None:
            return False
        if difference.field == "pstn_dial_out_enabled":
            return bool(last) == bool(difference.acs)
        return datetime.fromisoformat(last) == difference.acs
    if isinstance(difference, ParticipantDifference):
        return pushed.get("participants", {}).get(difference.raw_id) == difference.acs_role
    return False


def _as_pending(room: Room, difference: Difference) -> Pending:
    what = difference.line.removeprefix(f"{room_label(room)}: ").removesuffix(".")
    return Pending(subject=room_label(room), reason=f"a portal change waits to be pushed ({what})")


def _why_pending(room: Room) -> str:
    if room.sync_state in (SyncState.FAILED, SyncState.STOPPED) and room.sync_error:
        return f"not created in ACS yet; the last push failed ({room.sync_error})"
    return "not created in ACS yet"


def _unowned(acs_rooms: dict[str, acs.AcsRoom], now: datetime) -> list[Difference]:
    owners = dict(
        Room.objects.filter(acs_id__in=list(acs_rooms)).values_list("acs_id", "deleted_at")
    )
    # Rooms whose create got no answer: the ACS room it made is owned by no row yet.
    lost = [
        room
        for room in Room.objects.filter(acs_id__isnull=True, create_first_sent__isnull=False)
        if room.create_payload
    ]
    # A create whose answer is still on its way leaves a room no row owns yet; within ACS's
    # replay window the retry will claim it, so it is pending, not an orphan to delete.
    awaiting_create = Room.objects.filter(
        acs_id__isnull=True, deleted_at__isnull=True, create_first_sent__isnull=False
    ).exists()
    found: list[Difference] = []
    for acs_id, acs_room in sorted(acs_rooms.items()):
        if acs_id in owners:
            if owners[acs_id] is not None:
                found.append(
                    Pending(
                        subject=f"ACS room {acs_id}",
                        reason="deleted in the portal; its removal from ACS is pending",
                    )
                )
            continue
        claimants = tuple(
            room
            for room in lost
            if lost_create_match(room.create_payload, room.create_first_sent, acs_room)
        )
        if claimants and all(
            room.sync_state == SyncState.STOPPED and room.deleted_at is None for room in claimants
        ):
            # The sync stopped rather than guess whose it is: never an orphan to delete.
            found.append(MayBeLostCreate(acs_room=acs_room, rooms=claimants))
            continue
        if claimants:
            labels = ", ".join(room_label(room) for room in claimants)
            found.append(
                Pending(
                    subject=f"ACS room {acs_id}",
                    reason=f"the lost create of {labels} may have made it; its next push "
                    "links it, or stops for a person if it cannot tell",
                )
            )
            continue
        if awaiting_create and now - acs_room.created_at < REPEATABILITY_WINDOW:
            found.append(
                Pending(
                    subject=f"ACS room {acs_id}",
                    reason="made moments ago, maybe by a create whose answer is still on its way",
                )
            )
            continue
        found.append(OnlyInAcs(acs_room=acs_room))
    return found


def by_room(differences: Iterable[Difference]) -> dict[int, list[Difference]]:
    """The drift of each portal room, keyed by room id (orphans and pending work left out)."""
    grouped: dict[int, list[Difference]] = {}
    for difference in differences:
        room = getattr(difference, "room", None)
        if difference.drift and room is not None:
            grouped.setdefault(room.pk, []).append(difference)
    return grouped


def observed_state(room: Room, differences: Iterable[Difference]) -> dict:
    """What ACS holds for the room, in Room.acs_state's shape: the portal's state, differences
    applied, so the next push sends exactly what it takes to undo them."""
    state = desired_state(room)
    participants = dict(state["participants"])
    for difference in differences:
        if isinstance(difference, FieldDifference):
            value = difference.acs
            state[difference.field] = (
                bool(value) if difference.field == "pstn_dial_out_enabled" else _iso(value)
            )
        elif isinstance(difference, ParticipantDifference):
            if difference.acs_role is None:
                participants.pop(difference.raw_id, None)
            else:
                participants[difference.raw_id] = difference.acs_role
    state["participants"] = participants
    return state


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _changes(differences: Iterable[Difference]) -> dict:
    """The audit trail's before/after: before is what ACS held, after what the portal holds."""
    changes: dict = {}
    for difference in differences:
        if isinstance(difference, OnlyInPortal):
            changes["acs_id"] = {"before": difference.room.acs_id, "after": None}
        elif isinstance(difference, FieldDifference):
            changes[difference.field] = {"before": difference.acs, "after": difference.portal}
        elif isinstance(difference, ParticipantDifference):
            changes[f"participant {difference.raw_id}"] = {
                "before": difference.acs_role,
                "after": difference.portal_role,
            }
    return changes


def room_fix(*, actor, room: Room, differences: list[Difference]) -> str:
    """Make ACS match the portal for one drifted room, now; returns the resulting sync state.

    The push only sends what Room.acs_state says ACS lacks, so first that belief is set to what
    ACS really holds (or, for a room ACS lost, to "never created", so the push creates it anew).
    """
    require(actor, "rooms.change_room", "repair rooms in ACS")
    if any(isinstance(d, OnlyInPortal) for d in differences):
        reset = {
            "acs_id": None,
            "acs_state": {},
            # A fresh request id: a replay of the old one would answer with the lost room.
            "create_request_id": uuid.uuid4(),
            "create_first_sent": None,
        }
    else:
        reset = {"acs_state": observed_state(room, differences)}
    # update(): these are the sync's own fields, not an edit; no signal must mark the room.
    # Only while the row still names the ACS room compared, so a push that ran since wins.
    reset_done = Room.objects.filter(
        pk=room.pk, acs_id=room.acs_id, deleted_at__isnull=True
    ).update(**reset)
    if not reset_done:
        return "changed"
    state = push_room(room.pk)
    if state == "busy":
        # A worker is pushing it from the old belief: make it go round once more afterwards.
        with transaction.atomic():
            mark_room_dirty(room.pk)
    with transaction.atomic():
        audit.record(
            action="portal.reconcile.fixed",
            actor=actor,
            target=room,
            room_id=room.pk,
            changes=_changes(differences),
            acs_outcome={"result": state},
        )
    return state


def acs_orphan_delete(*, actor, acs_room: acs.AcsRoom, gateway=None) -> bool:
    """Delete a room no portal row owns from ACS; False if a row claimed it meanwhile."""
    require(actor, "rooms.delete_room", "delete rooms only ACS holds")
    if Room.objects.filter(acs_id=acs_room.id).exists():
        return False
    gateway = gateway or acs.get_gateway()
    attempts: list[acs.Attempt] = []
    with contextlib.suppress(acs.AcsNotFound):  # gone already is what we wanted
        gateway.delete_room(acs_room.id, on_attempt=attempts.append)
    with transaction.atomic():
        audit.record(
            action="portal.reconcile.orphan_deleted",
            actor=actor,
            target=None,
            target_type="acs.room",
            target_id=acs_room.id,
            target_label=f"ACS room {acs_room.id}",
            changes=audit.diff(_acs_fields(acs_room), {}),
            acs_outcome=machinery.outcome_of(attempts[-1]) if attempts else None,
        )
    return True


def _acs_fields(acs_room: acs.AcsRoom) -> dict:
    return {name: getattr(acs_room, name) for name in ROOM_FIELDS}


def import_room(acs_room: acs.AcsRoom, *, actor, gateway=None) -> Room:
    """Adopt a room only ACS holds: a portal room with its window, PSTN flag and roster."""
    gateway = gateway or acs.get_gateway()
    held = gateway.list_participants(acs_room.id)
    with transaction.atomic():
        if Room.objects.filter(acs_id=acs_room.id).exists():
            raise ValidationError(ALREADY_OWNED.format(acs_id=acs_room.id))
        entries = [
            services.ParticipantEntry(person=_identity_for(raw_id, actor=actor), role=role)
            for raw_id, role in sorted(held.items())
        ]
        room = services.room_create(
            actor=actor,
            title=f"Imported {acs_room.id}",
            valid_from=acs_room.valid_from,
            valid_until=acs_room.valid_until,
            pstn_dial_out_enabled=acs_room.pstn_dial_out_enabled,
            participants=entries,
        )
        # Direct write: no service links a room to an ACS room that exists already. With the id
        # and what ACS holds recorded, the push after commit finds nothing to create or send.
        acs_state = {
            "valid_from": _iso(acs_room.valid_from),
            "valid_until": _iso(acs_room.valid_until),
            "pstn_dial_out_enabled": acs_room.pstn_dial_out_enabled,
            "participants": dict(held),
        }
        Room.objects.filter(pk=room.pk).update(acs_id=acs_room.id, acs_state=acs_state)
        room.acs_id, room.acs_state = acs_room.id, acs_state
        audit.record(
            action="portal.reconcile.imported",
            actor=actor,
            target=room,
            room_id=room.pk,
            changes={
                "acs_id": {"before": None, "after": acs_room.id},
                "participants": {"before": None, "after": dict(held)},
            },
        )
    return room


def _identity_for(raw_id: str, *, actor) -> Identity:
    """The portal's identity for an ACS user, created (named by its raw id) if it has none."""
    identity = Identity.objects.filter(raw_id=raw_id).first()
    if identity is not None:
        return identity
    identity = identity_create(actor=actor, display_name=raw_id)
    # Direct write: the ACS user exists already, and identity_create has no way to say so.
    # With raw_id set before commit, the identity's sync finds nothing to create.
    Identity.objects.filter(pk=identity.pk).update(raw_id=raw_id)
    identity.raw_id = raw_id
    audit.record(
        action="portal.reconcile.identity_linked",
        actor=actor,
        target=identity,
        changes={"raw_id": {"before": None, "after": raw_id}},
    )
    return identity


# ------------------------------------------------------------------ resync chosen rooms (admin)

RESYNC_IN_SYNC = "In sync with ACS: nothing to fix."
RESYNC_FIXED = "Fixed: ACS now matches the portal."
RESYNC_EXPIRED = "Ended, and ACS no longer holds it, as expected: nothing to fix."
RESYNC_DELETED = "Deleted in the portal: its removal from ACS is the sync's work."
RESYNC_UNREADABLE = "Could not read it from ACS ({error}); nothing was changed."
_NOT_FIXED = {
    "busy": "Not fixed: a sync worker is pushing it now and will push it again after.",
    "changed": "Not fixed: it changed while being compared; resync it again.",
    "gone": "Not fixed: it was deleted meanwhile.",
}


def _rosters_of(room_ids: list[int]) -> tuple[dict[int, dict[str, tuple[str, str]]], dict]:
    """The rosters of the given rooms only, in _portal_rosters()'s shape."""
    rosters: dict[int, dict[str, tuple[str, str]]] = {}
    unpushed: dict[int, int] = {}
    rows = Participant.objects.filter(
        room_id__in=room_ids, identity__deleted_at__isnull=True
    ).values_list("room_id", "identity__raw_id", "role", "identity__display_name")
    for room_id, raw_id, role, name in rows:
        if raw_id is None:
            unpushed[room_id] = unpushed.get(room_id, 0) + 1
        else:
            rosters.setdefault(room_id, {})[raw_id] = (role, name)
    return rosters, unpushed


def _compare_room(
    room: Room, gateway: acs.AcsGateway, roster: dict, unpushed: int, now: datetime
) -> list[Difference] | None:
    """What compare() finds for one room, read with get_room rather than a whole listing."""
    if not room.acs_id:
        return [Pending(subject=room_label(room), reason=_why_pending(room))]
    try:
        acs_room = gateway.get_room(room.acs_id)
        held = gateway.list_participants(room.acs_id)
    except acs.AcsNotFound:
        # Past its end ACS drops the room, as it should: None says there is nothing to compare.
        return [OnlyInPortal(room=room)] if room.valid_until > now else None
    found = [
        _as_pending(room, difference) if _waiting_for_push(room, difference) else difference
        for difference in room_differences(room, acs_room, held, roster)
    ]
    if unpushed:
        found.append(
            Pending(
                subject=room_label(room),
                reason=f"{unpushed} participant(s) not created in ACS yet",
            )
        )
    return found


def room_resync(*, actor, rooms: Iterable[Room], gateway=None) -> dict[int, list[str]]:
    """Compare each room with ACS and make ACS match the portal where they differ.

    Returns, per room id, what was found and done, one sentence each (the admin's "Resync from
    ACS" action shows them). Repairs go through room_fix(), which records the audit event, so
    the trail shows every difference with what ACS held before. Costs one get_room and one
    list_participants per room, not compare()'s listing of every room ACS holds.
    """
    require(actor, "rooms.change_room", "resync rooms with ACS")
    gateway = gateway or acs.get_gateway()
    now = timezone.now()
    rooms = list(rooms)
    rosters, unpushed = _rosters_of([room.pk for room in rooms])
    report: dict[int, list[str]] = {}
    for room in rooms:
        if room.deleted_at is not None:
            report[room.pk] = [RESYNC_DELETED]
            continue
        try:
            found = _compare_room(
                room, gateway, rosters.get(room.pk, {}), unpushed.get(room.pk, 0), now
            )
        except acs.AcsError as exc:
            report[room.pk] = [RESYNC_UNREADABLE.format(error=exc)]
            continue
        if found is None:
            report[room.pk] = [RESYNC_EXPIRED]
            continue
        prefix = f"{room_label(room)}: "
        lines = [difference.line.removeprefix(prefix) for difference in found]
        drift = [difference for difference in found if difference.drift]
        if drift:
            state = room_fix(actor=actor, room=room, differences=drift)
            if state == SyncState.SYNCED:
                lines.append(RESYNC_FIXED)
            else:
                room.refresh_from_db(fields=["sync_error"])
                lines.append(
                    _NOT_FIXED.get(state)
                    or f"Not fixed: the push ended {state}: {room.sync_error or 'no error given'}."
                )
        elif not found:
            lines.append(RESYNC_IN_SYNC)
        report[room.pk] = lines
    return report
