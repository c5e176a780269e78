"""The only writers of rooms and participants: each call checks, validates, writes, audits."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from identities.models import Identity
from identities.services import NewPerson, identities_find_or_create
from portal import audit
from portal.services import Conflict, check_text, column_length, require
from rooms import rules
from rooms.models import Participant, Role, Room
from rooms.sync import mark_room_dirty

STALE_EDIT = "Someone else changed this room while you were editing it."
ROOM_GONE = "This room has been deleted."
ALREADY_IN_ROOM = "{person} is already in the room."
NOT_IN_ROOM = "Participant {pk} is not in this room."
NOTHING_TO_ADD = "Choose at least one person to add."
DUPLICATE_PERSON = "{person} is listed twice."
# Adding someone as anything but an Attendee is giving them a role: only role admins may.
GIVE_ROLES = ("rooms.change_participant", "give people a role other than Attendee")

ROOM_FIELDS = ("title", "notes", "valid_from", "valid_until", "pstn_dial_out_enabled")


@dataclass(frozen=True)
class ParticipantEntry:
    """One person to put in a room: an existing identity or a new person, with a role."""

    person: Identity | NewPerson
    role: str = Role.ATTENDEE


def _snapshot(room: Room) -> dict:
    return {name: getattr(room, name) for name in ROOM_FIELDS}


def _locked_room(room: Room | int) -> Room:
    """Re-read the room under a row lock, so concurrent edits queue instead of overwriting."""
    pk = room.pk if isinstance(room, Room) else room
    try:
        locked = Room.objects.select_for_update().get(pk=pk)
    except Room.DoesNotExist:
        raise ValidationError(ROOM_GONE) from None
    if locked.deleted_at is not None:
        raise ValidationError(ROOM_GONE)
    return locked


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": rules.TITLE_REQUIRED})
    return check_text(title, "title", "The title", max_length=column_length(Room, "title"))


def _clean_notes(notes: str) -> str:
    return check_text(notes or "", "notes", "The notes", multiline=True)


def room_create(
    *,
    actor,
    title: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    pstn_dial_out_enabled: bool = False,
    notes: str = "",
    participants: Iterable[ParticipantEntry] = (),
) -> Room:
    """Create a room (ACS's defaults for a missing window) and, optionally, its participants."""
    require(actor, "rooms.add_room", "create rooms")
    default_from, _ = rules.default_window()
    valid_from = valid_from or default_from
    valid_until = valid_until or valid_from + rules.MAX_ROOM_LIFETIME
    rules.check_window(valid_from, valid_until)
    room = Room(
        title=_clean_title(title),
        notes=_clean_notes(notes),
        valid_from=valid_from,
        valid_until=valid_until,
        pstn_dial_out_enabled=bool(pstn_dial_out_enabled),
        owner=actor,
    )
    room.full_clean()
    entries = list(participants)
    with transaction.atomic():
        room.save()
        created = audit.event(
            action="portal.room.created",
            actor=actor,
            target=room,
            room_id=room.pk,
            changes=audit.diff({}, _snapshot(room)),
        )
        if entries:
            _add(actor=actor, room=room, entries=entries, events=[created])
        else:
            audit.append([created])
    return room


def room_update(*, actor, room: Room, expected_version: int, **fields) -> Room:
    """Change a room's fields; an edit made on an older version is refused as a Conflict."""
    require(actor, "rooms.change_room", "edit rooms")
    unknown = set(fields) - set(ROOM_FIELDS)
    if unknown:
        raise TypeError(f"room_update got unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        current = _locked_room(room)
        if current.version != expected_version:
            raise Conflict(STALE_EDIT, current=current)
        before = _snapshot(current)
        if "title" in fields:
            fields["title"] = _clean_title(fields["title"])
        if "notes" in fields:
            fields["notes"] = _clean_notes(fields["notes"])
        for name, value in fields.items():
            setattr(current, name, value)
        after = _snapshot(current)
        changes = audit.diff(before, after)
        if not changes:
            return current
        if {"valid_from", "valid_until"} & set(changes):
            rules.check_window(current.valid_from, current.valid_until)
        current.full_clean()
        current.version += 1
        current.save()
        audit.record(
            action="portal.room.updated",
            actor=actor,
            target=current,
            room_id=current.pk,
            changes=changes,
        )
    return current


def room_delete(*, actor, room: Room, expected_version: int | None = None) -> Room:
    """Delete a room: a tombstone until ACS confirms; then the sync removes the row."""
    require(actor, "rooms.delete_room", "delete rooms")
    with transaction.atomic():
        current = _locked_room(room)
        if expected_version is not None and current.version != expected_version:
            raise Conflict(STALE_EDIT, current=current)
        current.deleted_at = timezone.now()
        current.version += 1
        current.save(update_fields=["deleted_at", "version", "updated_at"])
        audit.record(
            action="portal.room.deleted",
            actor=actor,
            target=current,
            room_id=current.pk,
            changes=audit.diff(_snapshot(current), {}),
        )
    return current


@dataclass(frozen=True)
class RoomCopy:
    """What a copy of a room will hold once saved; making it writes nothing.

    The Duplicate page shows it (and Cancel leaves nothing behind); saving creates the room
    with these participants in one room_create, as a new room with people is made.
    """

    title: str
    notes: str
    valid_from: datetime
    valid_until: datetime
    pstn_dial_out_enabled: bool
    participants: list[ParticipantEntry]
    # The original has ended, so the copy's window was moved to start at the next full hour.
    moved: bool
    # False: the actor may not give roles, so everyone is copied as an Attendee.
    roles_kept: bool


def room_copy(*, actor, room: Room, title: str | None = None) -> RoomCopy:
    """A new room's settings, window and roster, taken from `room`; nothing is written.

    The copy of a room that has ended starts at the next full hour, as long as the original:
    ACS refuses windows that have ended, so copying last month's meeting would always fail.
    The roles come along only for someone who may give roles; for anyone else everyone in the
    copy is an Attendee, as if they had added each person themselves. People whose identity
    was deleted are left out: ACS no longer knows them.
    """
    require(actor, "rooms.add_room", "create rooms")
    valid_from, valid_until = room.valid_from, room.valid_until
    moved = valid_until <= timezone.now()
    if moved:
        length = min(valid_until - valid_from, rules.MAX_ROOM_LIFETIME)
        valid_from = rules.next_full_hour()
        valid_until = valid_from + length
    keep_roles = may_give_roles(actor)
    entries = [
        ParticipantEntry(person=p.identity, role=p.role if keep_roles else Role.ATTENDEE)
        for p in room.participants.select_related("identity")
        .filter(identity__deleted_at__isnull=True)
        .order_by("identity__display_name", "pk")
    ]
    return RoomCopy(
        title=title or f"{room.title} (copy)",
        notes=room.notes,
        valid_from=valid_from,
        valid_until=valid_until,
        pstn_dial_out_enabled=room.pstn_dial_out_enabled,
        participants=entries,
        moved=moved,
        roles_kept=keep_roles,
    )


def room_duplicate(*, actor, room: Room, title: str | None = None) -> Room:
    """A new room with the same settings, window and roster (room_copy's rules), created now."""
    copy = room_copy(actor=actor, room=room, title=title)
    return room_create(
        actor=actor,
        title=copy.title,
        valid_from=copy.valid_from,
        valid_until=copy.valid_until,
        pstn_dial_out_enabled=copy.pstn_dial_out_enabled,
        notes=copy.notes,
        participants=copy.participants,
    )


def may_give_roles(actor) -> bool:
    """Whether the actor may add people with a role other than Attendee."""
    return actor is not None and actor.is_active and actor.has_perm(GIVE_ROLES[0])


def participants_add(
    *, actor, room: Room, entries: Iterable[ParticipantEntry]
) -> list[Participant]:
    """Add people (existing identities or new ones made on the fly) to a room, all or nothing."""
    require(actor, "rooms.add_participant", "add participants")
    entries = list(entries)
    if not entries:
        raise ValidationError(NOTHING_TO_ADD)
    with transaction.atomic():
        current = _locked_room(room)
        return _add(actor=actor, room=current, entries=entries)


def _add(
    *, actor, room: Room, entries: list[ParticipantEntry], events: list | None = None
) -> list[Participant]:
    """Add everyone in a few queries whatever their number: one lookup of the people the
    portal knows, one INSERT of the new ones, one of the participants, one batch of events.

    The events, after any the caller passes in `events`, are appended last of all, so the
    audit chain is held only from there to the commit.
    """
    events = list(events or [])
    for entry in entries:
        rules.check_role(entry.role)
    if any(entry.role != Role.ATTENDEE for entry in entries):
        require(actor, *GIVE_ROLES)
    for entry in entries:
        if isinstance(entry.person, Identity) and entry.person.deleted_at is not None:
            raise ValidationError(f"{entry.person} has been deleted.")
    new_people = [entry.person for entry in entries if isinstance(entry.person, NewPerson)]
    made = iter(
        identities_find_or_create(actor=actor, people=new_people, events=events)
        if new_people
        else []
    )
    identities: list[tuple[Identity, str]] = [
        (entry.person if isinstance(entry.person, Identity) else next(made), entry.role)
        for entry in entries
    ]
    seen: set[int] = set()
    for identity, _ in identities:
        if identity.pk in seen:
            raise ValidationError(DUPLICATE_PERSON.format(person=identity))
        seen.add(identity.pk)
    present = set(
        Participant.objects.filter(room=room, identity_id__in=seen).values_list(
            "identity_id", flat=True
        )
    )
    for identity, _ in identities:
        if identity.pk in present:
            raise ValidationError(ALREADY_IN_ROOM.format(person=identity))
    added = Participant.objects.bulk_create(
        [Participant(room=room, identity=identity, role=role) for identity, role in identities]
    )
    # bulk_create fires no post_save: mark the room once, as the signal would have per row.
    mark_room_dirty(room.pk)
    events += [added_event(actor, participant) for participant in added]
    audit.append(events)
    return added


def participant_role_change(*, actor, participant: Participant, role: str) -> Participant:
    """Give one participant a new role."""
    changed = participants_roles_change(
        actor=actor, room=participant.room, roles={participant.pk: role}
    )
    return changed[0] if changed else Participant.objects.get(pk=participant.pk)


def participants_roles_change(*, actor, room: Room, roles: Mapping[int, str]) -> list[Participant]:
    """Change several participants' roles at once (participant id → role), all or nothing."""
    require(actor, "rooms.change_participant", "change participants' roles")
    for role in roles.values():
        rules.check_role(role)
    with transaction.atomic():
        current = _locked_room(room)
        changed, events = _roles_changed(actor=actor, room=current, roles=roles)
        if changed:
            # bulk_update fires no post_save: mark the room once, as the signal would per row.
            mark_room_dirty(current.pk)
            audit.append(events)
    return changed


def participants_remove(*, actor, room: Room, participant_ids: Iterable[int]) -> int:
    """Take participants out of a room, all or nothing; returns how many left."""
    require(actor, "rooms.delete_participant", "remove participants")
    ids = list(dict.fromkeys(participant_ids))
    if not ids:
        raise ValidationError("Choose at least one participant to remove.")
    with transaction.atomic():
        current = _locked_room(room)
        participants = list(
            Participant.objects.select_related("identity").filter(room=current, pk__in=ids)
        )
        found = {p.pk for p in participants}
        for pk in ids:
            if pk not in found:
                raise ValidationError(NOT_IN_ROOM.format(pk=pk))
        events = [removed_event(actor, participant) for participant in participants]
        Participant.objects.filter(pk__in=found).delete()
        audit.append(events)
    return len(participants)


def role_changed_event(actor, participant: Participant, role: str) -> audit.AuditEvent:
    """The event of a participant's role change, built before the role is set."""
    return audit.event(
        action="portal.participant.role_changed",
        actor=actor,
        target=participant,
        room_id=participant.room_id,
        changes={"role": {"before": participant.role, "after": role}},
    )


def added_event(actor, participant: Participant) -> audit.AuditEvent:
    return audit.event(
        action="portal.participant.added",
        actor=actor,
        target=participant,
        room_id=participant.room_id,
        changes={
            "identity": {"before": None, "after": str(participant.identity)},
            "role": {"before": None, "after": participant.role},
        },
    )


def removed_event(actor, participant: Participant) -> audit.AuditEvent:
    return audit.event(
        action="portal.participant.removed",
        actor=actor,
        target=participant,
        room_id=participant.room_id,
        changes={
            "identity": {"before": str(participant.identity), "after": None},
            "role": {"before": participant.role, "after": None},
        },
    )


def identity_leave_rooms(*, actor, identity: Identity) -> int:
    """Take an identity that is being deleted out of every room it is in; returns how many.

    Called by the identities app's identity_deleting signal inside its transaction (the
    identity service checked the actor may delete identities, which implies this).
    """
    by_room: dict[int, list[Participant]] = {}
    for participant in Participant.objects.select_related("identity").filter(identity=identity):
        by_room.setdefault(participant.room_id, []).append(participant)
    events = []
    for room_id, participants in sorted(by_room.items()):
        _locked_room_or_tombstone(room_id)
        events += [removed_event(actor, participant) for participant in participants]
    Participant.objects.filter(identity=identity).delete()
    audit.append(events)
    return len(events)


def _locked_room_or_tombstone(room_id: int) -> None:
    # Rooms in id order, so two deletions touching the same rooms cannot deadlock.
    Room.objects.select_for_update().filter(pk=room_id).first()


def room_retry_sync(*, actor, room: Room) -> None:
    """Push a room to ACS now, also one that ACS refused before (after its cause was fixed)."""
    require(actor, "rooms.change_room", "retry pushing rooms")
    with transaction.atomic():
        audit.record(action="portal.room.sync_requested", actor=actor, target=room, room_id=room.pk)
        mark_room_dirty(room.pk, reset_attempts=True)


ADOPT_LINKED = "Room {room} is linked to ACS room {acs_id} already."
ADOPT_OWNED = "ACS room {acs_id} belongs to portal room {owner} already."
ADOPT_MISSING = "ACS has no room {acs_id} (or it has ended)."
ADOPT_BUSY = "A sync worker is pushing this room right now; try again in a minute."
ADOPT_UNREADABLE = "Could not read ACS room {acs_id} ({error}); nothing was changed."
ADOPT_BAD_ID = "{acs_id!r} is not an ACS room id: those are digits only."


def room_adopt_acs_room(*, actor, room: Room, acs_id: str) -> Room:
    """Link a room whose create answer was lost to the ACS room a person says it made.

    The sync adopts such a room by itself only when exactly one ACS room can be it; otherwise it
    stops with the candidates in its error, and a person chooses here. What ACS holds is read
    and recorded, and the push that follows sends what differs from the portal.
    """
    # Imported here: the room services otherwise never talk to ACS themselves.
    import acs_gateway as acs
    from outbox import engine
    from rooms.sync import KIND, acs_room_state

    require(actor, "rooms.change_room", "link rooms to ACS rooms")
    acs_id = str(acs_id or "").strip()
    if not (acs_id.isascii() and acs_id.isdigit() and len(acs_id) <= 32):
        raise ValidationError(ADOPT_BAD_ID.format(acs_id=acs_id[:40]))
    current = Room.objects.filter(pk=room.pk, deleted_at__isnull=True).first()
    if current is None:
        raise ValidationError(ROOM_GONE)
    if current.acs_id:
        raise ValidationError(ADOPT_LINKED.format(room=current.pk, acs_id=current.acs_id))
    owner = Room.objects.filter(acs_id=acs_id).values_list("pk", flat=True).first()
    if owner is not None:
        raise ValidationError(ADOPT_OWNED.format(acs_id=acs_id, owner=owner))
    # Held like a push, so no worker creates or adopts a room for it meanwhile.
    lease = engine.claim(KIND, current.pk, engine.new_worker_id())
    if lease is None:
        raise ValidationError(ADOPT_BUSY)
    try:
        try:
            held = acs_room_state(acs.get_gateway(), acs_id)
        except acs.AcsNotFound:
            raise ValidationError(ADOPT_MISSING.format(acs_id=acs_id)) from None
        except acs.AcsError as exc:
            raise ValidationError(ADOPT_UNREADABLE.format(acs_id=acs_id, error=exc)) from None
        with transaction.atomic():
            current = _locked_room(current)
            if current.acs_id:
                raise ValidationError(ADOPT_LINKED.format(room=current.pk, acs_id=current.acs_id))
            owner = Room.objects.filter(acs_id=acs_id).values_list("pk", flat=True).first()
            if owner is not None:
                raise ValidationError(ADOPT_OWNED.format(acs_id=acs_id, owner=owner))
            # update(): linking is no edit of the room; the mark below pushes what differs.
            Room.objects.filter(pk=current.pk).update(acs_id=acs_id)
            lease.record(state=held, create_payload={})
            current.acs_id = acs_id
            audit.record(
                action="portal.room.acs_room_adopted",
                actor=actor,
                target=current,
                room_id=current.pk,
                changes={"acs_id": {"before": None, "after": acs_id}},
            )
            mark_room_dirty(current.pk, reset_attempts=True)
    finally:
        lease.let_go()
    return current


# ---------------------------------------------------------------------------------------------
# Applying a roster: people to add and roles to change, together (the CSV import, issue 12).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterChange:
    """What applying a roster did: the participants added and those whose role changed."""

    added: list[Participant]
    changed: list[Participant]


def participants_apply_roster(
    *,
    actor,
    room: Room,
    add: Iterable[ParticipantEntry] = (),
    roles: Mapping[int, str] | None = None,
) -> RosterChange:
    """Add people and change participants' roles (participant id → role), all or nothing.

    One transaction marks the room once, so ACS gets one participants PATCH for the lot, where
    participants_add() then participants_roles_change() would cost two pushes (and could leave
    the roster half-changed if the second call were refused).
    """
    entries = list(add)
    roles = dict(roles or {})
    if entries:
        require(actor, "rooms.add_participant", "add participants")
    if roles:
        require(actor, "rooms.change_participant", "change participants' roles")
    for role in roles.values():
        rules.check_role(role)
    if not entries and not roles:
        return RosterChange(added=[], changed=[])
    with transaction.atomic():
        current = _locked_room(room)
        changed, events = _roles_changed(actor=actor, room=current, roles=roles)
        if entries:
            # _add checks and adds the people, marks the room once and appends its events
            # after these, in one INSERT at the end.
            added = _add(actor=actor, room=current, entries=entries, events=events)
        else:
            added = []
            if changed:
                mark_room_dirty(current.pk)
                audit.append(events)
    return RosterChange(added=added, changed=changed)


def _roles_changed(
    *, actor, room: Room, roles: Mapping[int, str]
) -> tuple[list[Participant], list[audit.AuditEvent]]:
    """Save the roles that differ with one bulk_update; the events are left to the caller to
    append (and the room to mark) with the rest of its change."""
    if not roles:
        return [], []
    participants = {
        p.pk: p
        for p in Participant.objects.select_related("identity").filter(
            room=room, pk__in=list(roles)
        )
    }
    for pk in roles:
        if pk not in participants:
            raise ValidationError(NOT_IN_ROOM.format(pk=pk))
    changed, events = [], []
    now = timezone.now()
    for pk, role in roles.items():
        participant = participants[pk]
        if participant.role == role:
            continue
        events.append(role_changed_event(actor, participant, role))
        participant.role, participant.updated_at = role, now
        changed.append(participant)
    if changed:
        # bulk_update fires no post_save: the caller marks the room once.
        Participant.objects.bulk_update(changed, ["role", "updated_at"])
    return changed, events
