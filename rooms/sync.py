"""Make ACS hold exactly what the portal holds for one room (level-triggered, idempotent)."""

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

import acs_gateway as acs
from outbox import engine
from outbox.engine import Lease
from outbox.models import Entry
from portal import audit
from rooms.models import Participant, Room

log = logging.getLogger(__name__)

# ACS replays a create with the same Repeatability-Request-ID for 5 minutes; keep a margin.
REPEATABILITY_WINDOW = engine.REPEATABILITY_WINDOW
# ACS's clock may be behind the portal's: the room a first send made can look a bit older.
CLOCK_SKEW = timedelta(minutes=1)
FINGERPRINTS = 999_999
# How many candidate ids a stopped room's error names, at most.
SHOWN_CANDIDATES = 20

LOST_CREATE_UNSURE = (
    "The answer to this room's create was lost, and ACS holds {count} room(s) that create may "
    "have made but none that only it can have made: {ids}. None was linked, so as not to take "
    "a room another portal room made. Link the right one with `manage.py reconcile --adopt "
    "{pk} ACS_ID --actor USERNAME`; the others are then reported as only in ACS."
)
OWNED_ELSEWHERE = (
    "ACS answered this room's create with ACS room {acs_id}, which portal room {owner} owns "
    "already; it was not linked. Compare both rooms with `manage.py reconcile`."
)


class NeedsPerson(acs.AcsError):
    """The push cannot go on without guessing which ACS room is whose: it stops for a person."""

    transient = False


KIND = "room"


def mark_room_dirty(pk: int, *, reset_attempts: bool = False, book: dict | None = None) -> None:
    engine.mark_dirty(KIND, pk, reset_attempts=reset_attempts, book=book)


# A room's bookkeeping in its outbox row (Entry.acs):
#   state              what ACS held after the last confirmed push, in desired_state()'s shape
#   create_request_id  sent as Repeatability-Request-ID: a retried create never makes two rooms
#   create_first_sent  when that request was first sent (ISO), sent as Repeatability-First-Sent
#   create_payload     what the first create asked for: a retry must send exactly this (ACS
#                      refuses a replayed request id with another body); empty once created


def book_of(room: Room) -> dict:
    """The room's bookkeeping, from its outbox row (select_related("sync") saves the query)."""
    try:
        entry = room.sync
    except Entry.DoesNotExist:
        return {}
    return entry.acs if entry is not None else {}


def acs_state_of(room: Room) -> dict:
    """What ACS held for the room after its last confirmed push."""
    return book_of(room).get("state") or {}


def first_sent(book: dict) -> datetime | None:
    value = book.get("create_first_sent")
    return datetime.fromisoformat(value) if value else None


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat()


def acs_valid_from(room: Room) -> datetime:
    """The validFrom the portal gives the room in ACS: its start, fingerprinted with its id.

    ACS rooms carry no free-form data, but ACS keeps the sub-second part of the times a client
    sends. The microsecond is the room's pk % 999,999 + 1, so the ACS room a lost create made is
    told from another portal room's with the same window (room_duplicate copies it exactly).
    Never earlier than the portal's start: the room opens less than a second later, and a full
    180-day window stays within ACS's limit. desired_state(), the create, the PATCH and
    reconcile all take validFrom from here, so none of them sees a difference the others do not.
    """
    start = room.valid_from.astimezone(UTC)
    marked = start.replace(microsecond=room.pk % FINGERPRINTS + 1)
    if marked < start:
        marked += timedelta(seconds=1)
    if marked > room.valid_until:  # a window shorter than a second stays a window
        marked -= timedelta(seconds=1)
    return marked


def valid_from_held(room: Room, held) -> bool:
    """Whether a validFrom ACS holds (a datetime or acs_state's ISO text) is the room's.

    That is the fingerprinted start, or exactly the portal's start: rooms pushed before
    fingerprints, and rooms imported from ACS, hold that, and moving them would change nothing
    anyone can see; a lost create always sent a fingerprint.
    """
    if not held:
        return False
    if isinstance(held, str):
        held = datetime.fromisoformat(held)
    return held in (acs_valid_from(room), room.valid_from)


@dataclass
class Roster:
    """Whom ACS should hold in one room: raw id → role (and name); and how many of its people
    have no ACS user yet (their room's push creates them first)."""

    roles: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    unpushed: int = 0


def rosters(rooms) -> dict[int, Roster]:
    """The rosters of `rooms` (ids, or a Room queryset) in one query, by room id.

    The one roster query: desired_state() sends it, reconcile's drift compares it with ACS.
    Deleted identities are no longer wanted in ACS.
    """
    found: dict[int, Roster] = {}
    rows = Participant.objects.filter(
        room__in=rooms, identity__deleted_at__isnull=True
    ).values_list("room_id", "identity__raw_id", "role", "identity__display_name")
    for room_id, raw_id, role, name in rows.iterator(chunk_size=2000):
        roster = found.setdefault(room_id, Roster())
        if raw_id is None:
            roster.unpushed += 1
        else:
            roster.roles[raw_id] = role
            roster.names[raw_id] = name
    return found


def desired_state(room: Room, held_state: dict | None = None) -> dict:
    """What ACS should hold for this room, in the shape of its bookkeeping's `state`.

    `held_state` is that state as last confirmed (read from the room's outbox row if not given).
    """
    participants = rosters([room.pk]).get(room.pk, Roster()).roles
    if held_state is None:
        held_state = acs_state_of(room)
    held = held_state.get("valid_from")
    return {
        # What ACS holds already when that is the room's start (pushed before fingerprints, or
        # imported), so such rooms cost no PATCH; else the fingerprinted start.
        "valid_from": held if valid_from_held(room, held) else _iso(acs_valid_from(room)),
        "valid_until": _iso(room.valid_until),
        "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
        "participants": participants,
    }


def _ensure_identities(room: Room, lease: Lease) -> int:
    """Participants whose ACS user does not exist yet get it now; returns how many still lack it."""
    from identities.sync import push_identity

    missing = Participant.objects.filter(
        room=room, identity__raw_id__isnull=True, identity__deleted_at__isnull=True
    ).values_list("identity_id", flat=True)
    for identity_id in list(missing):
        # Each is an ACS call of its own: the room stays held through all of them.
        lease.renew()
        push_identity(identity_id)
    # A fresh count: the one list() cached would still count those just created.
    return missing.all().count()


class _Recorder:
    """Collects the gateway's attempts and writes each into the room's history."""

    def __init__(self, room: Room):
        self.room = room
        self.attempts: list = []

    def __call__(self, attempt) -> None:
        self.attempts.append(attempt)
        with transaction.atomic():
            audit.record(
                action=attempt.audit_action("room"),
                target=self.room,
                room_id=self.room.pk,
                acs_outcome=engine.outcome_of(attempt),
            )


def push_room(pk: int, *, worker: str | None = None) -> str:
    """Push one room until ACS matches it; returns the resulting sync state (or 'busy')."""
    return engine.push(KIND, pk, worker=worker)


def _push_once(room: Room, lease: Lease) -> str:
    """One round of a room's push (the outbox calls it, holding the room's lease)."""
    record = _Recorder(room)
    # Every ACS call renews the lease first: a push may outlast one lease.
    gateway = lease.guard(acs.get_gateway())
    if room.deleted_at is not None:
        acs_id = room.acs_id or _made_by_lost_create(room, lease, gateway, record)
        if acs_id:
            # Already gone from ACS is fine: deleting is idempotent.
            with contextlib.suppress(acs.AcsNotFound):
                gateway.delete_room(acs_id, on_attempt=record)
        with lease.held():
            audit.record(
                action="acs.room.removed",
                target=room,
                room_id=room.pk,
            )
            Room.objects.filter(pk=room.pk).delete()
            lease.drop()
        return "deleted"

    missing = _ensure_identities(room, lease)
    desired = desired_state(room, lease.book.get("state") or {})
    if not room.acs_id:
        _create(room, desired, lease, gateway, record)
        # ACS holds what the first create asked for; the portal may have changed since, so the
        # rest of this push sends the difference.
        room.refresh_from_db()
    held = lease.book.get("state") or {}
    fields = {
        name: desired[name]
        for name in ("valid_from", "valid_until", "pstn_dial_out_enabled")
        if held.get(name) != desired[name]
    }
    try:
        if fields:
            gateway.update_room(
                room.acs_id,
                valid_from=acs_valid_from(room) if "valid_from" in fields else None,
                valid_until=room.valid_until if "valid_until" in fields else None,
                pstn_dial_out_enabled=(
                    room.pstn_dial_out_enabled if "pstn_dial_out_enabled" in fields else None
                ),
                on_attempt=record,
            )
            held = {**held, **fields}
            lease.record(state=held)
        held_participants = held.get("participants", {})
        upserts = {
            raw_id: role
            for raw_id, role in desired["participants"].items()
            if held_participants.get(raw_id) != role
        }
        removals = [raw_id for raw_id in held_participants if raw_id not in desired["participants"]]
        if upserts or removals:
            gateway.update_participants(
                room.acs_id, upserts=upserts, removals=removals, on_attempt=record
            )
            lease.record(state={**held, "participants": desired["participants"]})
    except acs.AcsNotFound:
        if room.valid_until <= timezone.now():
            return "pushed"  # ACS dropped the expired room; nothing left to push
        # Deleted in ACS behind the portal's back: create it again, under a new id.
        lost_id = room.acs_id
        with lease.held():
            Room.objects.filter(pk=room.pk).update(acs_id=None)
            lease.record(
                state={},
                create_request_id=str(uuid.uuid4()),
                create_first_sent=None,
                create_payload={},
            )
            room.acs_id = None
            audit.record(
                action="acs.room.missing",
                target=room,
                room_id=room.pk,
                changes={"acs_id": {"before": lost_id, "after": None}},
            )
        _create(room, desired, lease, gateway, record)
    if missing:
        # Not synced while ACS lacks someone: failing keeps the room retried until their ACS
        # user exists, and the retry sends them.
        raise acs.AcsUnavailable(
            f"{missing} participant(s) have no ACS user yet.", code="IdentityPending"
        )
    return "pushed"


def _create(room: Room, desired: dict, lease: Lease, gateway, record) -> None:
    """Create the room in ACS; a retry resends the first request exactly, so it never makes two.

    ACS answers a replayed Repeatability-Request-ID with the room it made the first time, but
    refuses it (400) if the body differs, so the body sent first is stored and sent again, and
    the caller pushes whatever changed since.
    """
    now = timezone.now()
    book = lease.book
    sent = book.get("create_payload")
    sent_at = first_sent(book)
    if sent_at is None or not sent:
        sent, sent_at = desired, now
        lease.record(
            create_request_id=book.get("create_request_id") or str(uuid.uuid4()),
            create_first_sent=now.isoformat(),
            create_payload=sent,
        )
    elif now - sent_at > REPEATABILITY_WINDOW:
        # ACS no longer remembers the first try, so a replay could make a second room. Adopt the
        # room the lost answer made, if ACS holds one only it can have made, before creating anew.
        adopted = _find_orphan(room, sent, sent_at, gateway, record)
        if adopted is not None:
            _adopt(room, adopted, lease, gateway, record)
            return
        sent, sent_at = desired, now
        lease.record(
            create_request_id=str(uuid.uuid4()),
            create_first_sent=now.isoformat(),
            create_payload=sent,
        )
    created = gateway.create_room(
        valid_from=datetime.fromisoformat(sent["valid_from"]),
        valid_until=datetime.fromisoformat(sent["valid_until"]),
        pstn_dial_out_enabled=sent["pstn_dial_out_enabled"],
        # Sorted: a JSON column may hand the stored roster back in another order.
        participants=dict(sorted(sent["participants"].items())),
        repeatability_request_id=lease.book["create_request_id"],
        repeatability_first_sent=sent_at,
        on_attempt=record,
    )
    _link(room, lease, created.id, sent)


def _link(room: Room, lease: Lease, acs_id: str, held: dict) -> None:
    """Record that the room is ACS room `acs_id`, holding `held`, unless another row owns it."""
    owner = Room.objects.filter(acs_id=acs_id).exclude(pk=room.pk).values_list("pk", flat=True)
    if owner:
        raise NeedsPerson(
            OWNED_ELSEWHERE.format(acs_id=acs_id, owner=owner[0]), code="AcsRoomOwned"
        )
    try:
        with lease.held():
            # The room's row first: if another row took the id meanwhile, nothing is recorded.
            Room.objects.filter(pk=room.pk).update(acs_id=acs_id)
            lease.record(state=held, create_payload={})
    except IntegrityError:  # linked by another row since the check
        owner = Room.objects.filter(acs_id=acs_id).values_list("pk", flat=True)
        raise NeedsPerson(
            OWNED_ELSEWHERE.format(acs_id=acs_id, owner=owner[0] if owner else "?"),
            code="AcsRoomOwned",
        ) from None
    room.acs_id = acs_id


def _made_by_lost_create(room: Room, lease: Lease, gateway, record) -> str | None:
    """The ACS room a create whose answer never came may have made (for a deleted room)."""
    sent, sent_at = lease.book.get("create_payload"), first_sent(lease.book)
    if sent_at is None or not sent:
        return None
    try:
        if timezone.now() - sent_at <= REPEATABILITY_WINDOW:
            try:
                # The replay answers with the room the first request made (or makes it now).
                _create(room, sent, lease, gateway, record)
            except acs.AcsInvalidRequest:
                return None  # ACS refused the create: it made no room
            return Room.objects.get(pk=room.pk).acs_id
        orphan = _find_orphan(room, sent, sent_at, gateway, record)
    except NeedsPerson as exc:
        # Deleting a room another portal room may own would be worse than leaving one behind:
        # the row goes, and reconcile shows what is left for a person to delete.
        with transaction.atomic():
            audit.record(
                action="acs.room.orphan_suspected",
                target=room,
                room_id=room.pk,
                acs_outcome={"error": exc.message},
            )
        return None
    return orphan.id if orphan is not None else None


def lost_create_match(sent: dict, first_sent: datetime, candidate: acs.AcsRoom) -> str | None:
    """How an ACS room relates to a create sent with `sent` first at `first_sent`.

    "exact": it holds exactly what was sent, fingerprinted validFrom included, and was made
    after the first send; "maybe": same validFrom, but something else differs, so it may be that
    create's room changed since, or another's; None: not that create's room.
    """
    if candidate.valid_from != datetime.fromisoformat(sent["valid_from"]):
        return None
    if (
        candidate.valid_until == datetime.fromisoformat(sent["valid_until"])
        and candidate.pstn_dial_out_enabled == bool(sent["pstn_dial_out_enabled"])
        and candidate.created_at >= first_sent - CLOCK_SKEW
    ):
        return "exact"
    return "maybe"


def _find_orphan(room: Room, sent: dict, sent_at: datetime, gateway, record) -> acs.AcsRoom | None:
    """The ACS room this room's lost create made: only when exactly one room can be it.

    None when no ACS room can be it (create anew); NeedsPerson when more than one can, or the
    only one does not match exactly: guessing could take a room another portal room made.
    """
    owned = set(Room.objects.exclude(acs_id=None).values_list("acs_id", flat=True))
    found = []
    for candidate in gateway.list_rooms(on_attempt=record):
        if candidate.id in owned:
            continue
        match = lost_create_match(sent, sent_at, candidate)
        if match is not None:
            found.append((candidate, match))
    if not found:
        return None
    if len(found) == 1 and found[0][1] == "exact":
        return found[0][0]
    ids = sorted(candidate.id for candidate, _ in found)
    shown = ", ".join(ids[:SHOWN_CANDIDATES]) + (" and more" if len(ids) > SHOWN_CANDIDATES else "")
    raise NeedsPerson(
        LOST_CREATE_UNSURE.format(count=len(ids), ids=shown, pk=room.pk),
        code="LostCreateUnsure",
    )


def acs_room_state(gateway, acs_id: str, *, on_attempt=None, acs_room=None) -> dict:
    """What ACS holds for one room, as its bookkeeping's `state` (a get_room, a roster read)."""
    acs_room = acs_room or gateway.get_room(acs_id, on_attempt=on_attempt)
    return {
        "valid_from": _iso(acs_room.valid_from),
        "valid_until": _iso(acs_room.valid_until),
        "pstn_dial_out_enabled": acs_room.pstn_dial_out_enabled,
        "participants": gateway.list_participants(acs_id, on_attempt=on_attempt),
    }


def _adopt(room: Room, candidate, lease: Lease, gateway, record) -> None:
    # What ACS really holds: the orphan was made by the first request, not from today's room.
    held = acs_room_state(gateway, candidate.id, on_attempt=record, acs_room=candidate)
    _link(room, lease, candidate.id, held)
    with transaction.atomic():
        audit.record(
            action="acs.room.adopted",
            target=room,
            room_id=room.pk,
            changes={"acs_id": {"before": None, "after": candidate.id}},
        )


def register() -> None:
    """Make rooms known to the outbox (RoomsConfig.ready)."""
    from outbox.registry import register as register_pusher

    register_pusher(KIND, model=Room, push=_push_once)
