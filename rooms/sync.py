"""Make ACS hold exactly what the portal holds for one room (level-triggered, idempotent)."""

import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from portal import acs, audit
from portal import sync as machinery
from portal.sync import SyncState
from rooms.models import Participant, Room

log = logging.getLogger(__name__)

# ACS replays a create with the same Repeatability-Request-ID for 5 minutes; keep a margin.
REPEATABILITY_WINDOW = timedelta(minutes=4, seconds=30)
MAX_ROUNDS = 5


def mark_room_dirty(pk: int, *, reset_attempts: bool = False) -> None:
    machinery.mark_dirty(Room, pk, "room", reset_attempts=reset_attempts)


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat()


def desired_state(room: Room) -> dict:
    """What ACS should hold for this room, in the shape kept in Room.acs_state."""
    participants = dict(
        Participant.objects.filter(
            room=room, identity__raw_id__isnull=False, identity__deleted_at__isnull=True
        ).values_list("identity__raw_id", "role")
    )
    return {
        "valid_from": _iso(room.valid_from),
        "valid_until": _iso(room.valid_until),
        "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
        "participants": participants,
    }


def _ensure_identities(room: Room) -> int:
    """Participants whose ACS user does not exist yet get it now; returns how many still lack it."""
    from identities.sync import push_identity

    missing = Participant.objects.filter(
        room=room, identity__raw_id__isnull=True, identity__deleted_at__isnull=True
    ).values_list("identity_id", flat=True)
    for identity_id in list(missing):
        push_identity(identity_id)
    return missing.count()


class _Recorder:
    """Collects the gateway's attempts and writes each into the room's history."""

    def __init__(self, room: Room):
        self.room = room
        self.attempts: list = []

    def __call__(self, attempt) -> None:
        self.attempts.append(attempt)
        ok = attempt.status is not None and attempt.status < 400
        action = f"acs.room.{_verb(attempt.operation)}" + ("" if ok else "_failed")
        with transaction.atomic():
            audit.record(
                action=action,
                target=self.room,
                room_id=self.room.pk,
                acs_outcome=machinery.outcome_of(attempt),
            )


def _verb(operation: str) -> str:
    return {
        "create_room": "created",
        "update_room": "updated",
        "delete_room": "deleted",
        "get_room": "read",
        "list_rooms": "listed",
        "update_participants": "participants_pushed",
        "list_participants": "participants_read",
    }.get(operation, operation)


def push_room(pk: int, *, worker: str | None = None) -> str:
    """Push one room until ACS matches it; returns the resulting sync state (or 'busy')."""
    worker = worker or machinery.new_worker_id()
    if not machinery.claim(Room, pk, worker):
        return "busy"
    for _ in range(MAX_ROUNDS):
        room = Room.objects.filter(pk=pk).first()
        if room is None:
            return "gone"
        generation = room.sync_generation
        try:
            finished = _push_once(room, worker)
        except acs.AcsError as exc:
            return machinery.fail(Room, "room", room, worker, exc)
        except Exception as exc:  # a bug must not leave the room claimed until the lease ends
            log.exception("Pushing room %s failed", pk)
            return machinery.fail(Room, "room", room, worker, acs.AcsUnavailable(str(exc)))
        if finished == "deleted":
            return "deleted"
        if machinery.succeed(Room, pk, worker, generation=generation):
            return SyncState.SYNCED
        # Changed during the push: go round again while we still hold the room.
        if not machinery.claim(Room, pk, worker):
            return "busy"
    # Still changing after every round: let go of the room, so the queued task can take it now
    # instead of finding it held until the lease runs out.
    Room.objects.filter(pk=pk, claimed_by=worker).update(claimed_by="", claimed_until=None)
    machinery.enqueue_now("room", pk)
    return SyncState.PENDING


def _push_once(room: Room, worker: str) -> str:
    record = _Recorder(room)
    gateway = acs.get_gateway()
    if room.deleted_at is not None:
        acs_id = room.acs_id or _made_by_lost_create(room, gateway, record)
        if acs_id:
            # Already gone from ACS is fine: deleting is idempotent.
            with contextlib.suppress(acs.AcsNotFound):
                gateway.delete_room(acs_id, on_attempt=record)
        with transaction.atomic():
            audit.record(
                action="acs.room.removed",
                target=room,
                room_id=room.pk,
            )
            Room.objects.filter(pk=room.pk, claimed_by=worker).delete()
        return "deleted"

    missing = _ensure_identities(room)
    desired = desired_state(room)
    if not room.acs_id:
        _create(room, desired, gateway, record)
        # ACS holds what the first create asked for; the portal may have changed since, so the
        # rest of this push sends the difference.
        room.refresh_from_db()
    held = room.acs_state or {}
    fields = {
        name: desired[name]
        for name in ("valid_from", "valid_until", "pstn_dial_out_enabled")
        if held.get(name) != desired[name]
    }
    try:
        if fields:
            gateway.update_room(
                room.acs_id,
                valid_from=room.valid_from if "valid_from" in fields else None,
                valid_until=room.valid_until if "valid_until" in fields else None,
                pstn_dial_out_enabled=(
                    room.pstn_dial_out_enabled if "pstn_dial_out_enabled" in fields else None
                ),
                on_attempt=record,
            )
            held = {**held, **fields}
            Room.objects.filter(pk=room.pk).update(acs_state=held)
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
            Room.objects.filter(pk=room.pk).update(
                acs_state={**held, "participants": desired["participants"]}
            )
    except acs.AcsNotFound:
        if room.valid_until <= timezone.now():
            return "pushed"  # ACS dropped the expired room; nothing left to push
        # Deleted in ACS behind the portal's back: create it again, under a new id.
        Room.objects.filter(pk=room.pk).update(
            acs_id=None,
            acs_state={},
            create_request_id=uuid.uuid4(),
            create_first_sent=None,
            create_payload={},
        )
        room.refresh_from_db()
        with transaction.atomic():
            audit.record(
                action="acs.room.missing",
                target=room,
                room_id=room.pk,
                changes={"acs_id": {"before": room.acs_id, "after": None}},
            )
        _create(room, desired, gateway, record)
    if missing:
        # Not synced while ACS lacks someone: failing keeps the room retried until their ACS
        # user exists, and the retry sends them.
        raise acs.AcsUnavailable(
            f"{missing} participant(s) have no ACS user yet.", code="IdentityPending"
        )
    return "pushed"


def _create(room: Room, desired: dict, gateway, record) -> None:
    """Create the room in ACS; a retry resends the first request exactly, so it never makes two.

    ACS answers a replayed Repeatability-Request-ID with the room it made the first time, but
    refuses it (400) if the body differs, so the body sent first is stored and sent again, and
    the caller pushes whatever changed since.
    """
    now = timezone.now()
    sent = room.create_payload
    if room.create_first_sent is None or not sent:
        sent = desired
        room.create_first_sent = now
        Room.objects.filter(pk=room.pk).update(create_first_sent=now, create_payload=sent)
    elif now - room.create_first_sent > REPEATABILITY_WINDOW:
        # ACS no longer remembers the first try, so a replay could make a second room. Adopt the
        # room the lost answer made, if there is one, before creating anew.
        adopted = _find_orphan(room, sent, gateway, record)
        if adopted is not None:
            _adopted(room, adopted, gateway, record)
            return
        sent = desired
        room.create_request_id = uuid.uuid4()
        room.create_first_sent = now
        Room.objects.filter(pk=room.pk).update(
            create_request_id=room.create_request_id, create_first_sent=now, create_payload=sent
        )
    created = gateway.create_room(
        valid_from=datetime.fromisoformat(sent["valid_from"]),
        valid_until=datetime.fromisoformat(sent["valid_until"]),
        pstn_dial_out_enabled=sent["pstn_dial_out_enabled"],
        # Sorted: a JSON column may hand the stored roster back in another order.
        participants=dict(sorted(sent["participants"].items())),
        repeatability_request_id=str(room.create_request_id),
        repeatability_first_sent=room.create_first_sent,
        on_attempt=record,
    )
    Room.objects.filter(pk=room.pk).update(acs_id=created.id, acs_state=sent, create_payload={})


def _made_by_lost_create(room: Room, gateway, record) -> str | None:
    """The ACS room a create whose answer never came may have made (for a deleted room)."""
    if room.create_first_sent is None or not room.create_payload:
        return None
    if timezone.now() - room.create_first_sent <= REPEATABILITY_WINDOW:
        try:
            # The replay answers with the room the first request made (or makes it now).
            _create(room, room.create_payload, gateway, record)
        except acs.AcsInvalidRequest:
            return None  # ACS refused the create: it made no room
        return Room.objects.get(pk=room.pk).acs_id
    orphan = _find_orphan(room, room.create_payload, gateway, record)
    return orphan.id if orphan is not None else None


def _find_orphan(room: Room, sent: dict, gateway, record):
    owned = set(Room.objects.exclude(acs_id=None).values_list("acs_id", flat=True))
    valid_from = datetime.fromisoformat(sent["valid_from"])
    valid_until = datetime.fromisoformat(sent["valid_until"])
    for candidate in gateway.list_rooms(on_attempt=record):
        if (
            candidate.id not in owned
            and candidate.valid_from == valid_from
            and candidate.valid_until == valid_until
            and candidate.created_at >= room.create_first_sent - timedelta(minutes=1)
        ):
            return candidate
    return None


def _adopted(room: Room, candidate, gateway, record) -> None:
    # What ACS really holds: the orphan was made by the first request, not from today's room.
    held = {
        "valid_from": _iso(candidate.valid_from),
        "valid_until": _iso(candidate.valid_until),
        "pstn_dial_out_enabled": candidate.pstn_dial_out_enabled,
        "participants": gateway.list_participants(candidate.id, on_attempt=record),
    }
    Room.objects.filter(pk=room.pk).update(acs_id=candidate.id, acs_state=held, create_payload={})
    with transaction.atomic():
        audit.record(
            action="acs.room.adopted",
            target=room,
            room_id=room.pk,
            changes={"acs_id": {"before": None, "after": candidate.id}},
        )
