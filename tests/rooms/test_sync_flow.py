"""A change committed in the portal reaches ACS: create, edit, roles, delete."""

from datetime import timedelta

import pytest
from django.utils import timezone

from identities.services import NewPerson
from outbox.models import SyncState
from rooms import services
from rooms.models import Role, Room
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db


def _window(hours=2):
    start = timezone.now() + timedelta(hours=1)
    return start, start + timedelta(hours=hours)


def _acs_participants(emulator, acs_id):
    import acs_gateway as acs

    return acs.get_gateway().list_participants(acs_id)


def test_a_new_room_with_people_is_created_in_acs_once(
    emulator, role_admin, django_capture_on_commit_callbacks
):
    start, end = _window()
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_create(
            actor=role_admin,
            title="Weekly review",
            valid_from=start,
            valid_until=end,
            participants=[
                services.ParticipantEntry(NewPerson("Ada Lovelace", "ada@example.com")),
                services.ParticipantEntry(
                    NewPerson("Alan Turing", "alan@example.com"), "Presenter"
                ),
            ],
        )
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.SYNCED
    assert room.acs_id
    held = _acs_participants(emulator, room.acs_id)
    assert sorted(held.values()) == ["Attendee", "Presenter"]
    assert emulator.requests()["counts"].get("Rooms_Create") == 1


def test_ten_role_changes_committed_together_make_one_participants_patch(
    emulator, scheduler, role_admin, django_capture_on_commit_callbacks
):
    start, end = _window()
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_create(
            actor=scheduler,
            title="Town hall",
            valid_from=start,
            valid_until=end,
            participants=[
                services.ParticipantEntry(NewPerson(f"P{i}", f"p{i}@example.com"))
                for i in range(10)
            ],
        )
    run_tasks()
    emulator.reset_requests() if hasattr(emulator, "reset_requests") else None
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    with django_capture_on_commit_callbacks(execute=True):
        services.participants_roles_change(
            actor=role_admin,
            room=room,
            roles={p.pk: Role.PRESENTER for p in room.participants.all()},
        )
    run_tasks()
    after = emulator.requests()["counts"].get("Participants_Update", 0)
    assert after - before == 1
    room.refresh_from_db()
    assert set(_acs_participants(emulator, room.acs_id).values()) == {"Presenter"}


def test_a_deleted_room_leaves_acs_and_then_the_portal(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    start, end = _window()
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_create(
            actor=scheduler, title="Gone soon", valid_from=start, valid_until=end
        )
    run_tasks()
    room.refresh_from_db()
    acs_id = room.acs_id
    with django_capture_on_commit_callbacks(execute=True):
        services.room_delete(actor=scheduler, room=room)
    run_tasks()
    assert not Room.objects.filter(pk=room.pk).exists()
    import acs_gateway as acs

    with pytest.raises(acs.AcsNotFound):
        acs.get_gateway().get_room(acs_id)
