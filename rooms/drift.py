"""How the portal's rooms and ACS's differ: a comparison that reads both and writes nothing.

What it finds is typed, not told: the reconcile command and the admin's resync action say it in
words, and the services in rooms.repairs repair it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

import acs_gateway as acs
from outbox.models import SyncState
from rooms.models import Room
from rooms.sync import (
    REPEATABILITY_WINDOW,
    Roster,
    acs_state_of,
    book_of,
    first_sent,
    lost_create_match,
    rosters,
    valid_from_held,
)

ROOM_FIELDS = ("valid_from", "valid_until", "pstn_dial_out_enabled")

# ------------------------------------------------------------------ drift: a person must act


@dataclass(frozen=True)
class OnlyInPortal:
    """A live room ACS does not hold: deleted there behind the portal's back."""

    room: Room


@dataclass(frozen=True)
class OnlyInAcs:
    """An ACS room no portal room owns, and no create still on its way can have made."""

    acs_room: acs.AcsRoom


@dataclass(frozen=True)
class LostCreate:
    """An ACS room no portal room owns that the lost create of stopped rooms may have made.

    The sync stopped rather than guess whose it is: a person links it (room_adopt_acs_room);
    never an orphan to delete.
    """

    acs_room: acs.AcsRoom
    rooms: tuple[Room, ...]


@dataclass(frozen=True)
class FieldDifference:
    room: Room
    field: str
    portal: datetime | bool
    acs: datetime | bool


@dataclass(frozen=True)
class RosterDifference:
    """A person in the room on one side only, or with another role (None: not in the room)."""

    room: Room
    raw_id: str
    name: str
    portal_role: str | None
    acs_role: str | None


RoomDifference = OnlyInPortal | FieldDifference | RosterDifference
Difference = RoomDifference | OnlyInAcs | LostCreate

# ------------------------------------------------------------------ pending: the sync's queue


@dataclass(frozen=True)
class NotCreatedYet:
    """A room ACS has not created yet (its sync state and error say whether a push failed)."""

    room: Room


@dataclass(frozen=True)
class ChangeQueued:
    """A difference the queued push undoes: ACS holds what was pushed last, the portal changed."""

    change: FieldDifference | RosterDifference


@dataclass(frozen=True)
class PeopleNotCreatedYet:
    """People in the room whose ACS user does not exist yet."""

    room: Room
    count: int


@dataclass(frozen=True)
class RemovalQueued:
    """An ACS room whose portal room was deleted: the sync removes it."""

    acs_id: str


@dataclass(frozen=True)
class LinkQueued:
    """An ACS room a lost create may have made: that room's next push links it, or stops."""

    acs_room: acs.AcsRoom
    rooms: tuple[Room, ...]


@dataclass(frozen=True)
class CreateInFlight:
    """An ACS room made moments ago, maybe by a create whose answer is still on its way."""

    acs_room: acs.AcsRoom


Pending = (
    NotCreatedYet | ChangeQueued | PeopleNotCreatedYet | RemovalQueued | LinkQueued | CreateInFlight
)


@dataclass
class Drift:
    """Everything a comparison found, by kind, each in the order of the rooms' ids."""

    only_in_portal: list[OnlyInPortal] = field(default_factory=list)
    only_in_acs: list[OnlyInAcs] = field(default_factory=list)
    lost_creates: list[LostCreate] = field(default_factory=list)
    fields: list[FieldDifference] = field(default_factory=list)
    roster: list[RosterDifference] = field(default_factory=list)
    # Work the sync has queued: reported, but not drift, so a cron job on the exit status does
    # not flap whenever the worker is behind.
    pending: list[Pending] = field(default_factory=list)
    # Rooms past their end that ACS dropped, as it does: nothing to compare.
    ended: list[Room] = field(default_factory=list)

    @property
    def differences(self) -> list[Difference]:
        """The drift: what a person must act on."""
        return [
            *self.only_in_portal,
            *self.only_in_acs,
            *self.lost_creates,
            *self.fields,
            *self.roster,
        ]

    @property
    def in_step(self) -> bool:
        """Nothing differs, and the sync has nothing queued."""
        return not self.differences and not self.pending

    def by_room(self) -> dict[int, list[RoomDifference]]:
        """The drift of each portal room, keyed by room id: what room_fix repairs."""
        grouped: dict[int, list[RoomDifference]] = {}
        differences: list[RoomDifference] = [*self.only_in_portal, *self.fields, *self.roster]
        for difference in differences:
            grouped.setdefault(difference.room.pk, []).append(difference)
        return grouped


def drift(
    *,
    rooms: Iterable[Room] | None = None,
    gateway: acs.AcsGateway | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> Drift:
    """Compare the portal's live rooms with ACS's rooms.

    Every room: the pages of one list_rooms plus one list_participants per room both sides
    hold, and the ACS rooms no portal room owns are examined too. Only `rooms`: a get_room and
    a list_participants per room, nothing else. An ACS error other than a 404 propagates.
    """
    gateway = gateway or acs.get_gateway()
    now = now or timezone.now()
    found = Drift()
    if rooms is None:
        listed = {acs_room.id: acs_room for acs_room in gateway.list_rooms()}
        chosen = list(
            Room.objects.filter(deleted_at__isnull=True).select_related("sync").order_by("pk")
        )
        held_rosters = rosters(Room.objects.filter(deleted_at__isnull=True, acs_id__isnull=False))
    else:
        listed = None
        chosen = list(rooms)
        held_rosters = rosters([room.pk for room in chosen])

    matched: list[tuple[Room, acs.AcsRoom]] = []
    for room in chosen:
        if not room.acs_id:
            found.pending.append(NotCreatedYet(room))
            continue
        acs_room = listed.get(room.acs_id) if listed is not None else _get(gateway, room.acs_id)
        if acs_room is None:
            _gone(found, room, now)
        else:
            matched.append((room, acs_room))

    for done, (room, acs_room) in enumerate(matched, start=1):
        try:
            held = gateway.list_participants(acs_room.id)
        except acs.AcsNotFound:  # deleted, or ended, between the two reads
            _gone(found, room, now)
        else:
            _compare(found, room, acs_room, held, held_rosters.get(room.pk, Roster()))
        if progress is not None:
            progress(done, len(matched))

    if listed is not None:
        _unowned(found, listed, now)
    return found


def _get(gateway: acs.AcsGateway, acs_id: str) -> acs.AcsRoom | None:
    try:
        return gateway.get_room(acs_id)
    except acs.AcsNotFound:
        return None


def _gone(found: Drift, room: Room, now: datetime) -> None:
    # Past its end ACS drops a room, as it should: that is no drift.
    if room.valid_until > now:
        found.only_in_portal.append(OnlyInPortal(room))
    else:
        found.ended.append(room)


def _compare(
    found: Drift, room: Room, acs_room: acs.AcsRoom, held: dict[str, str], roster: Roster
) -> None:
    for difference in room_differences(room, acs_room, held, roster):
        if _waiting_for_push(room, difference):
            found.pending.append(ChangeQueued(difference))
        elif isinstance(difference, FieldDifference):
            found.fields.append(difference)
        else:
            found.roster.append(difference)
    if roster.unpushed:
        found.pending.append(PeopleNotCreatedYet(room, roster.unpushed))


def room_differences(
    room: Room, acs_room: acs.AcsRoom, held: dict[str, str], roster: Roster
) -> list[FieldDifference | RosterDifference]:
    """How one room differs from its ACS room; `held` maps raw id to role in ACS."""
    differences: list[FieldDifference | RosterDifference] = []
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
    for raw_id in sorted(roster.roles.keys() | held.keys()):
        role, acs_role = roster.roles.get(raw_id), held.get(raw_id)
        if role != acs_role:
            differences.append(
                RosterDifference(
                    room=room,
                    raw_id=raw_id,
                    name=roster.names.get(raw_id, ""),
                    portal_role=role,
                    acs_role=acs_role,
                )
            )
    return differences


def _waiting_for_push(room: Room, difference: FieldDifference | RosterDifference) -> bool:
    """True when ACS still holds what the portal last pushed and the portal changed since.

    That is the sync's queue, not drift. ACS holding anything else is drift, pending or not.
    """
    entry = room.sync
    if entry is None or entry.generation == entry.confirmed_generation:
        return False
    pushed = acs_state_of(room)
    if isinstance(difference, FieldDifference):
        last = pushed.get(difference.field)
        if last is None:
            return False
        if difference.field == "pstn_dial_out_enabled":
            return bool(last) == bool(difference.acs)
        return datetime.fromisoformat(last) == difference.acs
    return pushed.get("participants", {}).get(difference.raw_id) == difference.acs_role


def _made_by_lost_create(room: Room, acs_room: acs.AcsRoom) -> bool:
    """Whether the room's create, whose answer was lost, may have made this ACS room."""
    book = book_of(room)
    sent_at = first_sent(book)
    if sent_at is None:
        return False
    return lost_create_match(book["create_payload"], sent_at, acs_room) is not None


def _unowned(found: Drift, listed: dict[str, acs.AcsRoom], now: datetime) -> None:
    """Sort the ACS rooms no live portal room owns: pending work, lost creates, or orphans."""
    owners = dict(Room.objects.filter(acs_id__in=list(listed)).values_list("acs_id", "deleted_at"))
    # Rooms whose create got no answer: the ACS room it made is owned by no row yet.
    sent = [
        room
        for room in Room.objects.filter(acs_id__isnull=True).select_related("sync")
        if first_sent(book_of(room)) is not None
    ]
    lost = [room for room in sent if book_of(room).get("create_payload")]
    # A create whose answer is still on its way leaves a room no row owns yet; within ACS's
    # replay window the retry will claim it, so it is pending, not an orphan to delete.
    awaiting_create = any(room.deleted_at is None for room in sent)
    for acs_id, acs_room in sorted(listed.items()):
        if acs_id in owners:
            if owners[acs_id] is not None:
                found.pending.append(RemovalQueued(acs_id))
            continue
        claimants = tuple(room for room in lost if _made_by_lost_create(room, acs_room))
        if claimants and all(
            room.sync.state == SyncState.STOPPED and room.deleted_at is None for room in claimants
        ):
            found.lost_creates.append(LostCreate(acs_room, claimants))
        elif claimants:
            found.pending.append(LinkQueued(acs_room, claimants))
        elif awaiting_create and now - acs_room.created_at < REPEATABILITY_WINDOW:
            found.pending.append(CreateInFlight(acs_room))
        else:
            found.only_in_acs.append(OnlyInAcs(acs_room))
