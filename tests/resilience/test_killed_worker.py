"""A worker killed in the middle of a push: its lease runs out and another worker finishes."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

import acs_gateway as acs
from identities.models import Identity
from identities.services import identity_create
from outbox import engine as machinery
from rooms import services
from rooms.models import Role, Room
from rooms.sync import first_sent
from tests.outbox_rows import book
from tests.resilience.conftest import acs_rooms, work, work_until_killed

pytestmark = pytest.mark.django_db(transaction=True)

# The clock fixture (tests/resilience/conftest.py) moves time for everyone at once: leases, the
# sweeper's grace, backoff and ACS's replay window. That is what a real wait does. Writing
# held_until into the past instead would free the lease alone, a state the code never makes:
# the sweeper would still find the push not overdue and leave the room untouched.
AFTER_THE_LEASE = machinery.LEASE + machinery.SWEEP_GRACE


@pytest.fixture
def people(role_admin, emulator) -> list[Identity]:
    """Two people whose ACS users exist already, so each test interrupts the room's own push."""
    made = [
        identity_create(actor=role_admin, display_name=name, email=f"{name.lower()}@example.com")
        for name in ("Ada", "Alan")
    ]
    work()
    return made


def _room(actor, people) -> Room:
    start = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    return services.room_create(
        actor=actor,
        title="Interrupted",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[
            services.ParticipantEntry(people[0], Role.PRESENTER),
            services.ParticipantEntry(people[1]),
        ],
    )


def _roster(room: Room) -> dict[str, str]:
    return dict(room.participants.values_list("identity__raw_id", "role"))


def _held_by_a_dead_worker(room: Room) -> None:
    room.refresh_from_db()
    assert room.sync.holder and room.sync.held_until > timezone.now()
    # The dead worker's task row stays RUNNING: nothing is queued that would push the room.
    assert not DBTaskResult.objects.filter(status="READY").exists()
    assert DBTaskResult.objects.filter(status="RUNNING").count() == 1


def _restart_after_the_lease(clock) -> int:
    clock.advance(AFTER_THE_LEASE)
    swept = machinery.sweep()
    work()
    return swept


def test_a_room_whose_worker_died_after_acs_created_it_is_finished_once_the_lease_runs_out(
    emulator, role_admin, people, clock
):
    room = _room(role_admin, people)
    # The worker creates the users, then the room; it dies before it can record the room's id.
    assert work_until_killed(after_calls=1) == ["create_room"]
    _held_by_a_dead_worker(room)
    assert room.acs_id is None
    assert len(acs_rooms()) == 1

    # While the lease lasts, neither the sweeper nor another worker touches the room.
    clock.advance(machinery.SWEEP_GRACE)
    assert machinery.sweep() == 0
    work()
    room.refresh_from_db()
    assert room.acs_id is None and room.sync.holder

    assert _restart_after_the_lease(clock) == 1
    room.refresh_from_db()
    assert (room.sync.state, room.sync.holder, room.sync.held_until) == ("synced", "", None)
    held = acs_rooms()
    assert list(held) == [room.acs_id], "the retried create made a second room"
    assert held[room.acs_id]["participants"] == _roster(room)
    assert emulator.requests()["counts"]["Rooms_Create"] == 2


def test_a_role_change_whose_worker_died_after_acs_applied_it_is_pushed_again(
    emulator, role_admin, people, clock
):
    room = _room(role_admin, people)
    work()
    room.refresh_from_db()
    services.participants_roles_change(
        actor=role_admin, room=room, roles={p.pk: Role.CONSUMER for p in room.participants.all()}
    )
    assert work_until_killed(after_calls=1) == ["update_participants"]
    _held_by_a_dead_worker(room)
    assert room.sync.state == "pending"

    assert _restart_after_the_lease(clock) == 1
    room.refresh_from_db()
    assert room.sync.state == "synced"
    assert acs_rooms()[room.acs_id]["participants"] == _roster(room)
    assert set(_roster(room).values()) == {Role.CONSUMER}


def test_a_delete_whose_worker_died_after_acs_applied_it_is_finished_by_the_next_worker(
    emulator, role_admin, people, clock
):
    room = _room(role_admin, people)
    work()
    room.refresh_from_db()
    services.room_delete(actor=role_admin, room=room, expected_version=room.version)
    assert work_until_killed(after_calls=1) == ["delete_room"]
    _held_by_a_dead_worker(room)
    assert acs_rooms() == {}

    # ACS answers the repeated delete with 404, which is the outcome wanted.
    assert _restart_after_the_lease(clock) == 1
    assert not Room.objects.filter(pk=room.pk).exists()
    assert acs_rooms() == {}


def test_a_create_whose_answer_was_lost_and_whose_retrying_worker_died_is_replayed_once(
    emulator, role_admin, people, clock
):
    sent: list[tuple] = []
    real_create = acs.AcsGateway.create_room

    def spy(self, **kwargs):
        sent.append((kwargs["repeatability_request_id"], kwargs["repeatability_first_sent"]))
        return real_create(self, **kwargs)

    room = _room(role_admin, people)
    with mock.patch.object(acs.AcsGateway, "create_room", spy):
        # The answer to the create is lost after ACS made the room: the push fails, to be retried.
        emulator.set_faults(drop_rate=1.0, drop_when="after")
        work()
        emulator.clear_faults()
        room.refresh_from_db()
        assert (room.sync.state, room.acs_id) == ("failed", None)

        # The retry's worker gets ACS's answer (the same room, replayed) and dies at once.
        clock.advance(timedelta(seconds=machinery.BACKOFF_BASE * 2))
        assert work_until_killed(after_calls=1) == ["create_room"]
        _held_by_a_dead_worker(room)

        assert _restart_after_the_lease(clock) == 1

    room.refresh_from_db()
    assert room.sync.state == "synced"
    assert len(sent) == 3
    assert set(sent) == {(book(room)["create_request_id"], first_sent(book(room)))}
    held = acs_rooms()
    assert list(held) == [room.acs_id], "a retried create made a second room"
    assert held[room.acs_id]["participants"] == _roster(room)
