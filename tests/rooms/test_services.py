"""Room and participant services: rules, permissions, and nothing written when refused."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from identities.models import Identity
from identities.services import NewPerson
from portal.models import AuditEvent
from portal.services import Conflict
from rooms import rules, services
from rooms.models import Participant, Role, Room
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db


def _window(start_in=timedelta(hours=1), length=timedelta(hours=2)):
    start = timezone.now() + start_in
    return start, start + length


def _nothing_written(rooms=0, participants=0, identities=0, events=0):
    assert Room.objects.count() == rooms
    assert Participant.objects.count() == participants
    assert Identity.objects.count() == identities
    assert AuditEvent.objects.count() == events


def test_it_creates_a_room_with_an_audit_event(scheduler):
    start, end = _window()
    room = services.room_create(
        actor=scheduler, title="  Board meeting ", valid_from=start, valid_until=end, notes="Q3"
    )
    assert (room.title, room.owner, room.version) == ("Board meeting", scheduler, 1)
    event = AuditEvent.objects.get(action="portal.room.created")
    assert event.actor == scheduler
    assert event.room_id == room.pk
    assert event.changes["title"] == {"before": None, "after": "Board meeting"}


def test_it_defaults_the_window_like_acs(scheduler):
    room = services.room_create(actor=scheduler, title="Default window")
    assert room.valid_until - room.valid_from == timedelta(days=180)
    assert abs(room.valid_from - timezone.now()) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("start_in", "length", "field", "message"),
    [
        (timedelta(hours=1), timedelta(days=180, seconds=1), "valid_until", rules.TOO_LONG),
        (timedelta(hours=1), -timedelta(minutes=30), "valid_until", rules.END_BEFORE_START),
        (-timedelta(hours=3), timedelta(hours=1), "valid_until", rules.END_IN_PAST),
        (timedelta(days=181), timedelta(hours=1), "valid_from", rules.START_TOO_FAR),
    ],
)
def test_it_refuses_a_window_acs_would_refuse_and_writes_nothing(
    scheduler, start_in, length, field, message
):
    start, end = _window(start_in, length)
    with pytest.raises(ValidationError) as caught:
        services.room_create(actor=scheduler, title="Bad", valid_from=start, valid_until=end)
    assert caught.value.message_dict[field] == [message]
    _nothing_written()


def test_it_accepts_exactly_180_days(scheduler):
    start, end = _window(length=timedelta(days=180))
    assert services.room_create(actor=scheduler, title="Long", valid_from=start, valid_until=end)


def test_it_refuses_a_blank_title(scheduler):
    with pytest.raises(ValidationError) as caught:
        services.room_create(actor=scheduler, title="   ")
    assert caught.value.message_dict["title"] == [rules.TITLE_REQUIRED]
    _nothing_written()


def test_it_refuses_a_room_with_a_bad_participant_and_writes_nothing(scheduler):
    start, end = _window()
    with pytest.raises(ValidationError):
        services.room_create(
            actor=scheduler,
            title="Half good",
            valid_from=start,
            valid_until=end,
            participants=[
                services.ParticipantEntry(NewPerson("Good Person", "good@example.com")),
                services.ParticipantEntry(NewPerson("Bad Role", "bad@example.com"), "Kafka"),
            ],
        )
    _nothing_written()


@pytest.mark.parametrize("who", ["auditor", "anonymous"])
def test_only_schedulers_create_rooms(request, who):
    actor = request.getfixturevalue(who) if who != "anonymous" else None
    with pytest.raises(PermissionDenied, match="rooms.add_room"):
        services.room_create(actor=actor, title="Nope")
    _nothing_written()


def test_an_edit_on_the_current_version_is_saved_and_audited(scheduler):
    room = RoomFactory(owner=scheduler)
    updated = services.room_update(
        actor=scheduler, room=room, expected_version=room.version, title="Renamed", notes="n"
    )
    assert (updated.title, updated.version) == ("Renamed", 2)
    event = AuditEvent.objects.get(action="portal.room.updated")
    assert event.changes == {
        "title": {"before": room.title, "after": "Renamed"},
        "notes": {"before": "", "after": "n"},
    }


def test_a_stale_edit_is_a_conflict_that_carries_the_current_room(scheduler, role_admin):
    room = RoomFactory(owner=scheduler)
    seen = Room.objects.get(pk=room.pk)
    services.room_update(actor=role_admin, room=room, expected_version=1, title="Theirs")
    with pytest.raises(Conflict) as caught:
        services.room_update(actor=scheduler, room=seen, expected_version=1, title="Mine")
    assert (caught.value.current.title, caught.value.current.version) == ("Theirs", 2)
    room.refresh_from_db()
    assert (room.title, room.version) == ("Theirs", 2)


def test_an_edit_that_breaks_the_window_is_refused(scheduler):
    room = RoomFactory(owner=scheduler)
    with pytest.raises(ValidationError) as caught:
        services.room_update(
            actor=scheduler,
            room=room,
            expected_version=1,
            valid_until=room.valid_from + timedelta(days=200),
        )
    assert caught.value.message_dict["valid_until"] == [rules.TOO_LONG]
    room.refresh_from_db()
    assert room.version == 1


def test_auditors_cannot_edit_or_delete(auditor):
    room = RoomFactory()
    with pytest.raises(PermissionDenied):
        services.room_update(actor=auditor, room=room, expected_version=1, title="x")
    with pytest.raises(PermissionDenied):
        services.room_delete(actor=auditor, room=room)
    room.refresh_from_db()
    assert room.deleted_at is None


def test_deleting_leaves_a_tombstone_until_acs_confirms(scheduler):
    room = RoomFactory(owner=scheduler)
    services.room_delete(actor=scheduler, room=room)
    room.refresh_from_db()
    assert room.deleted_at is not None
    assert AuditEvent.objects.filter(action="portal.room.deleted", room_id=room.pk).exists()
    with pytest.raises(ValidationError, match="deleted"):
        services.room_update(actor=scheduler, room=room, expected_version=room.version, title="x")


def test_adding_people_creates_identities_on_the_fly_with_the_attendee_role(scheduler):
    room = RoomFactory(owner=scheduler)
    existing = IdentityFactory(email="known@example.com")
    added = services.participants_add(
        actor=scheduler,
        room=room,
        entries=[
            services.ParticipantEntry(existing),
            services.ParticipantEntry(NewPerson("New Person", "NEW@example.com")),
            # The same e-mail as a known identity: that identity, not a second one.
            services.ParticipantEntry(NewPerson("Known Again", "other@example.com")),
        ],
    )
    assert [p.role for p in added] == [Role.ATTENDEE] * 3
    assert Identity.objects.filter(email="new@example.com").count() == 1
    assert AuditEvent.objects.filter(action="portal.participant.added").count() == 3


def test_adding_someone_already_in_the_room_adds_nobody(scheduler):
    participant = ParticipantFactory()
    newcomer = IdentityFactory()
    with pytest.raises(ValidationError, match="already in the room"):
        services.participants_add(
            actor=scheduler,
            room=participant.room,
            entries=[
                services.ParticipantEntry(newcomer),
                services.ParticipantEntry(participant.identity),
            ],
        )
    assert participant.room.participants.count() == 1


def test_an_invalid_email_is_refused_with_the_address(scheduler):
    room = RoomFactory()
    with pytest.raises(ValidationError, match="not-an-email"):
        services.participants_add(
            actor=scheduler,
            room=room,
            entries=[services.ParticipantEntry(NewPerson("X", "not-an-email"))],
        )
    assert Identity.objects.count() == 0


def test_role_admins_change_several_roles_at_once(role_admin):
    room = RoomFactory()
    first, second = ParticipantFactory(room=room), ParticipantFactory(room=room)
    changed = services.participants_roles_change(
        actor=role_admin,
        room=room,
        roles={first.pk: Role.PRESENTER, second.pk: Role.CONSUMER},
    )
    assert {p.role for p in changed} == {Role.PRESENTER, Role.CONSUMER}
    events = AuditEvent.objects.filter(action="portal.participant.role_changed")
    assert {(e.changes["role"]["before"], e.changes["role"]["after"]) for e in events} == {
        ("Attendee", "Presenter"),
        ("Attendee", "Consumer"),
    }


def test_schedulers_cannot_change_roles(scheduler):
    participant = ParticipantFactory()
    with pytest.raises(PermissionDenied, match="rooms.change_participant"):
        services.participant_role_change(
            actor=scheduler, participant=participant, role=Role.PRESENTER
        )
    participant.refresh_from_db()
    assert participant.role == Role.ATTENDEE


def test_an_unknown_role_changes_no_role(role_admin):
    room = RoomFactory()
    first, second = ParticipantFactory(room=room), ParticipantFactory(room=room)
    with pytest.raises(ValidationError, match="Unknown role 'Host'"):
        services.participants_roles_change(
            actor=role_admin, room=room, roles={first.pk: Role.PRESENTER, second.pk: "Host"}
        )
    assert set(room.participants.values_list("role", flat=True)) == {Role.ATTENDEE}


def test_a_participant_of_another_room_is_refused(role_admin):
    room = RoomFactory()
    stranger = ParticipantFactory()
    with pytest.raises(ValidationError, match="not in this room"):
        services.participants_roles_change(
            actor=role_admin, room=room, roles={stranger.pk: Role.PRESENTER}
        )


def test_removing_participants_is_all_or_nothing(scheduler):
    room = RoomFactory()
    first = ParticipantFactory(room=room)
    stranger = ParticipantFactory()
    with pytest.raises(ValidationError):
        services.participants_remove(
            actor=scheduler, room=room, participant_ids=[first.pk, stranger.pk]
        )
    assert room.participants.count() == 1
    assert services.participants_remove(actor=scheduler, room=room, participant_ids=[first.pk]) == 1
    assert room.participants.count() == 0
    assert AuditEvent.objects.filter(action="portal.participant.removed").count() == 1


def test_duplicating_a_room_copies_its_roster(role_admin):
    room = RoomFactory(owner=role_admin)
    ParticipantFactory(room=room, role=Role.PRESENTER)
    copy = services.room_duplicate(actor=role_admin, room=room)
    assert copy.title == f"{room.title} (copy)"
    assert list(copy.participants.values_list("role", flat=True)) == [Role.PRESENTER]


def test_the_database_refuses_a_window_over_180_days_even_without_the_service():
    from django.db import IntegrityError, transaction

    room = RoomFactory.build()
    room.valid_until = room.valid_from + timedelta(days=181)
    room.owner.save()
    room.owner = room.owner
    with pytest.raises(IntegrityError), transaction.atomic():
        room.save()
