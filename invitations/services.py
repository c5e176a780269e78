"""What changes call for an e-mail, and the staff's own actions: turn a room's invitations
off or on, resend one person's invitation, make or revoke a calendar feed.

The changes are read from the audit trail, not from model signals: every change of a room or
its people writes its event in the change's own transaction, whichever path made it (pages, the
CSV import, series, bulk services that fire no signal), and events are appended in commit order
(the chain's head is locked until commit). `scan()` reads the events after a cursor, and for
each room they name compares what every person was last told with what the room says now
(level-triggered, as the room's push is): one pending e-mail per person, however many changes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from identities.models import Identity
from invitations.models import (
    AuditCursor,
    FeedToken,
    Invitation,
    Kind,
    RoomCalendar,
    Status,
)
from outbox import engine
from portal import audit
from portal.logging import current_request_id, request_context
from portal.models import AuditEvent, Preference
from portal.secret_digest import digest
from portal.services import require
from rooms.models import Participant, Room

KIND = "invitation"
# Whoever may change a room's people may decide what they are sent.
MANAGE = ("rooms.add_participant", "send invitations")
# The events that may change what someone should be told about a room.
WATCHED = (
    "portal.room.created",
    "portal.room.updated",
    "portal.room.deleted",
    "portal.participant.added",
    "portal.participant.role_changed",
    "portal.participant.removed",
)
SCAN_BATCH = 500

NO_ADDRESS = "{person} has no e-mail address."
NOT_IN_ROOM = "{person} is not in this room."
ROOM_GONE = "This room has been deleted."
INVITATIONS_OFF = "Invitations are turned off for this room."


# ------------------------------------------------------------------------ the room's calendar


def calendar_of(room_id: int) -> RoomCalendar:
    """The room's calendar row, unsaved with the defaults if it has none."""
    return RoomCalendar.objects.filter(room_id=room_id).first() or RoomCalendar(room_id=room_id)


def _bump(room_id: int) -> int:
    """The room's next SEQUENCE: calendars replace an entry only with a higher one."""
    if not RoomCalendar.objects.filter(room_id=room_id).update(sequence=F("sequence") + 1):
        RoomCalendar.objects.get_or_create(room_id=room_id, defaults={"sequence": 1})
    return RoomCalendar.objects.values_list("sequence", flat=True).get(room_id=room_id)


def room_zone(room: Room) -> str:
    """The zone an e-mail writes the room's window in: rooms have none of their own, so the
    owner's chosen zone, else the portal's."""
    chosen = Preference.objects.filter(user_id=room.owner_id).values_list("time_zone", flat=True)
    return chosen.first() or settings.TIME_ZONE


# ------------------------------------------------------------------------ reading the changes


def _last_event_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def scan(*, limit: int = SCAN_BATCH) -> int:
    """Queue the e-mails the audit events since the last scan call for; returns how many
    watched events it read. Run by run_worker every second (InvitationsConfig.ready)."""
    read_up_to = AuditCursor.objects.values_list("last_event_id", flat=True).first() or 0
    if _last_event_id() <= read_up_to:
        return 0  # nothing new: no write transaction (on SQLite that locks the database)
    with transaction.atomic():
        cursor = AuditCursor.objects.select_for_update().filter(pk=1).first()
        if cursor is None:
            cursor, _ = AuditCursor.objects.get_or_create(pk=1)
        # Every event up to `top` is committed: a later one is appended under the chain's
        # lock, after this one's transaction committed, so it gets a higher id.
        top = _last_event_id()
        events = list(
            AuditEvent.objects.filter(pk__gt=cursor.last_event_id, pk__lte=top, action__in=WATCHED)
            .order_by("pk")
            .values_list("pk", "room_id", "request_id")[:limit]
        )
        # Each room's e-mails carry the request id of its latest change: their sends' log lines
        # and ACS calls (x-ms-client-request-id) lead back to the request that caused them.
        caused_by = {room: request_id for _, room, request_id in events if room is not None}
        for room_id, request_id in caused_by.items():
            with request_context(request_id or current_request_id()):
                reconcile_room(room_id)
        # Past the other events too (the sync's, mostly), so they are not read again.
        cursor.last_event_id = events[-1][0] if len(events) == limit else top
        cursor.save(update_fields=["last_event_id"])
    return len(events)


@dataclass(frozen=True)
class _Told:
    """What a person is (or was last) told about a room."""

    kind: str
    role: str
    title: str
    valid_from: object
    valid_until: object


def _told(invitation: Invitation) -> _Told:
    if invitation.kind == Kind.CANCEL:
        return _Told(Kind.CANCEL, "", "", None, None)
    return _Told(
        Kind.REQUEST,
        invitation.role,
        invitation.title,
        invitation.valid_from,
        invitation.valid_until,
    )


def _latest(room_id: int) -> dict[int, Invitation]:
    """Each person's latest e-mail about the room (withdrawn ones said nothing)."""
    latest: dict[int, Invitation] = {}
    rows = Invitation.objects.filter(room_id=room_id).exclude(status=Status.WITHDRAWN)
    for row in rows.order_by("-pk"):
        latest.setdefault(row.identity_id, row)
    return latest


def reconcile_room(room_id: int) -> int:
    """After a change of the room: a new SEQUENCE for its calendar entries, and an e-mail for
    everyone whose place in it differs from what they were last told (none while the room's
    invitations are off); returns how many e-mails."""
    sequence = _bump(room_id)
    if not calendar_of(room_id).invitations_enabled:
        return 0
    room = Room.objects.filter(pk=room_id).first()
    live = room is not None and room.deleted_at is None
    participants = (
        {
            p.identity_id: p
            # By primary key (prefetch): a join to identities can hash all of them.
            for p in Participant.objects.filter(room_id=room_id).prefetch_related("identity")
        }
        if live
        else {}
    )
    latest = _latest(room_id)
    wanted: list[tuple[Identity, _Told, Invitation | None]] = []
    for identity_id in dict.fromkeys([*participants, *latest]):
        participant, last = participants.get(identity_id), latest.get(identity_id)
        if participant is not None:
            identity = participant.identity
            if not identity.email or identity.deleted_at is not None:
                continue
            assert room is not None
            now = _Told(
                Kind.REQUEST, participant.role, room.title, room.valid_from, room.valid_until
            )
        else:
            if last is None or last.kind == Kind.CANCEL:
                continue  # never told, or told already: nothing to take back
            identity, now = last.identity, _Told(Kind.CANCEL, "", "", None, None)
        if last is None or _told(last) != now:
            wanted.append((identity, now, last))
    if not wanted:
        return 0
    zone = room_zone(room) if room is not None else settings.TIME_ZONE
    for identity, now, last in wanted:
        _queue(room_id, room, identity, now, last, sequence=sequence, zone=zone)
    return len(wanted)


def _queue(
    room_id: int,
    room: Room | None,
    identity: Identity,
    now: _Told,
    last: Invitation | None,
    *,
    sequence: int,
    zone: str,
) -> None:
    """Update the person's unsent e-mail to say `now`, or queue a new one."""
    if now.kind == Kind.CANCEL:
        assert last is not None
        # Keep what the cancelled entry said: the room's row may be gone.
        content = {
            "role": last.role,
            "title": room.title if room is not None else last.title,
            "notes": "",
            "valid_from": room.valid_from if room is not None else last.valid_from,
            "valid_until": room.valid_until if room is not None else last.valid_until,
        }
    else:
        assert room is not None
        content = {
            "role": now.role,
            "title": room.title,
            "notes": room.notes,
            "valid_from": room.valid_from,
            "valid_until": room.valid_until,
        }
    fields = {
        "kind": now.kind,
        "sequence": sequence,
        "time_zone": zone,
        "series_id": room.series_id if room is not None else (last.series_id if last else None),
        # A cancellation goes where the invitation went (a deleted identity's address is gone).
        "to_address": identity.email or (last.to_address if last else ""),
        "to_name": identity.display_name,
        **content,
    }
    if last is not None and last.status == Status.PENDING:
        if now.kind == Kind.CANCEL and not _told_before(last):
            # Added and taken out again before the invitation went: say nothing.
            if Invitation.objects.filter(pk=last.pk, status=Status.PENDING).update(
                status=Status.WITHDRAWN
            ):
                return
        # Only while nobody is sending it: a row being sent is frozen (same operation id).
        elif Invitation.objects.filter(pk=last.pk, status=Status.PENDING).update(**fields):
            engine.mark_dirty(KIND, last.pk)
            return
    row = Invitation.objects.create(room_id=room_id, identity=identity, **fields)
    engine.mark_dirty(KIND, row.pk)


def _told_before(pending: Invitation) -> bool:
    """Whether the person got an invitation to the room before this unsent one."""
    return (
        Invitation.objects.filter(
            room_id=pending.room_id, identity_id=pending.identity_id, pk__lt=pending.pk
        )
        .exclude(status=Status.WITHDRAWN)
        .order_by("-pk")
        .values_list("kind", flat=True)
        .first()
        == Kind.REQUEST
    )


# ------------------------------------------------------------------------ staff actions


def invitations_set_enabled(*, actor, room: Room, enabled: bool) -> RoomCalendar:
    """Turn the room's invitations on or off (off: its changes send nothing)."""
    require(actor, *MANAGE)
    with transaction.atomic():
        if Room.objects.filter(pk=room.pk, deleted_at__isnull=True).first() is None:
            raise ValidationError(ROOM_GONE)
        row, _ = RoomCalendar.objects.select_for_update().get_or_create(room_id=room.pk)
        if row.invitations_enabled == enabled:
            return row
        row.invitations_enabled = enabled
        row.save(update_fields=["invitations_enabled", "updated_at"])
        audit.record(
            action="portal.room.invitations_turned_on"
            if enabled
            else "portal.room.invitations_turned_off",
            actor=actor,
            target=room,
            room_id=room.pk,
            changes={"invitations": {"before": not enabled, "after": enabled}},
        )
    return row


def invitation_resend(*, actor, participant: Participant) -> Invitation:
    """Send the person their invitation again, as the room stands now: a new e-mail with its
    own operation id (the earlier one may have been lost or deleted)."""
    require(actor, *MANAGE)
    with transaction.atomic():
        current = (
            Participant.objects.select_related("room", "identity").filter(pk=participant.pk).first()
        )
        if current is None:
            raise ValidationError(NOT_IN_ROOM.format(person=participant.identity))
        room, identity = current.room, current.identity
        if room.deleted_at is not None:
            raise ValidationError(ROOM_GONE)
        if not calendar_of(room.pk).invitations_enabled:
            raise ValidationError(INVITATIONS_OFF)
        if not identity.email:
            raise ValidationError(NO_ADDRESS.format(person=identity))
        row = Invitation.objects.create(
            room_id=room.pk,
            identity=identity,
            kind=Kind.REQUEST,
            sequence=calendar_of(room.pk).sequence,
            role=current.role,
            title=room.title,
            notes=room.notes,
            valid_from=room.valid_from,
            valid_until=room.valid_until,
            series_id=room.series_id,
            time_zone=room_zone(room),
            to_address=identity.email,
            to_name=identity.display_name,
            reason="resend",
            requested_by=actor,
        )
        engine.mark_dirty(KIND, row.pk)
        audit.record(
            action="portal.invitation.resend_requested",
            actor=actor,
            target=row,
            room_id=room.pk,
            changes={"to": {"before": None, "after": identity.email}},
        )
    return row


# ------------------------------------------------------------------------ calendar feeds


def feed_create(*, user) -> str:
    """A new subscription secret for the user (any earlier one stops working); shown once."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        FeedToken.objects.filter(user=user).delete()
        FeedToken.objects.create(user=user, digest=digest(secret))
    return secret


def feed_revoke(*, user) -> bool:
    """End the user's subscription URL; False if they had none."""
    return FeedToken.objects.filter(user=user).delete()[0] > 0


def feed_exists(*, user) -> bool:
    return FeedToken.objects.filter(user=user).exists()


def feed_owner(secret: str):
    """The user whose live feed has this secret, or None."""
    if not secret or len(secret) > 100:
        return None
    token = FeedToken.objects.select_related("user").filter(digest=digest(secret)).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


def scan_all() -> int:
    """Read every event waiting (the periodic job): batches until none is left."""
    total = 0
    while (read := scan()) == SCAN_BATCH:
        total += read
    return total + read


def skip_history() -> None:
    """Mark every event so far as read: for loaders that write history in bulk (benchmarks,
    imports from another system), whose changes were never meant to be e-mailed."""
    AuditCursor.objects.update_or_create(pk=1, defaults={"last_event_id": _last_event_id()})
