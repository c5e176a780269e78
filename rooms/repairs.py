"""Services that repair drift (rooms.drift) either way: each checks its actor and is audited."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import transaction

import acs_gateway as acs
from identities.models import Identity
from identities.services import identity_create
from outbox import engine
from portal import audit
from portal.services import require
from rooms import services
from rooms.drift import ROOM_FIELDS, FieldDifference, OnlyInPortal, RoomDifference, RosterDifference
from rooms.models import Room
from rooms.sync import acs_room_state, book_of, desired_state, mark_room_dirty, push_room

ALREADY_OWNED = "A portal room owns ACS room {acs_id} already."


def room_fix(*, actor, room: Room, differences: list[RoomDifference]) -> str:
    """Make ACS match the portal for one drifted room, now; returns the resulting sync state.

    The push only sends what the room's bookkeeping says ACS lacks, so first that belief is set
    to what ACS really holds (or, for a room ACS lost, to "never created", so the push creates
    it anew).
    """
    require(actor, "rooms.change_room", "repair rooms in ACS")
    lost = any(isinstance(d, OnlyInPortal) for d in differences)
    with transaction.atomic():
        # Only while the row still names the ACS room compared, so a push that ran since wins.
        current = Room.objects.filter(pk=room.pk, acs_id=room.acs_id, deleted_at__isnull=True)
        if not current.exists():
            return "changed"
        if lost:
            # update(): the link is the sync's to make, not an edit.
            current.update(acs_id=None)
            # A fresh request id: a replay of the old one would answer with the lost room.
            book: dict = {"state": {}, "create_request_id": str(uuid.uuid4())}
        else:
            book = {**book_of(room), "state": _observed_state(room, differences)}
        # Marked with the belief reset: a worker pushing it now goes round once more after.
        mark_room_dirty(room.pk, book=book)
    state = push_room(room.pk)
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


def _observed_state(room: Room, differences: Iterable[RoomDifference]) -> dict:
    """What ACS holds for the room, in its bookkeeping's `state` shape: the portal's state,
    differences applied, so the next push sends exactly what it takes to undo them."""
    state = desired_state(room)
    participants = dict(state["participants"])
    for difference in differences:
        if isinstance(difference, FieldDifference):
            value = difference.acs
            state[difference.field] = value if isinstance(value, bool) else _iso(value)
        elif isinstance(difference, RosterDifference):
            if difference.acs_role is None:
                participants.pop(difference.raw_id, None)
            else:
                participants[difference.raw_id] = difference.acs_role
    state["participants"] = participants
    return state


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _changes(differences: Iterable[RoomDifference]) -> dict:
    """The audit trail's before/after: before is what ACS held, after what the portal holds."""
    changes: dict = {}
    for difference in differences:
        if isinstance(difference, OnlyInPortal):
            changes["acs_id"] = {"before": difference.room.acs_id, "after": None}
        elif isinstance(difference, FieldDifference):
            changes[difference.field] = {"before": difference.acs, "after": difference.portal}
        else:
            changes[f"participant {difference.raw_id}"] = {
                "before": difference.acs_role,
                "after": difference.portal_role,
            }
    return changes


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
            changes=audit.diff({name: getattr(acs_room, name) for name in ROOM_FIELDS}, {}),
            acs_outcome=engine.outcome_of(attempts[-1]) if attempts else None,
        )
    return True


def room_import_from_acs(*, actor, acs_room: acs.AcsRoom, gateway=None) -> Room:
    """Adopt a room only ACS holds: a portal room with its window, PSTN flag and roster."""
    # Checked before ACS is read; room_create checks it again, with the same words.
    require(actor, "rooms.add_room", "create rooms")
    # What ACS holds, as the room's bookkeeping keeps it: recorded below, so the push sends nothing.
    acs_state = acs_room_state(gateway or acs.get_gateway(), acs_room.id, acs_room=acs_room)
    held = acs_state["participants"]
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
        Room.objects.filter(pk=room.pk).update(acs_id=acs_room.id)
        mark_room_dirty(room.pk, book={"state": acs_state})
        room.acs_id = acs_room.id
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
