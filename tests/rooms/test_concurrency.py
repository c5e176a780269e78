"""Concurrent editors and workers on one room, each on its own database connection."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from portal.services import Conflict
from rooms import services
from rooms.models import Room
from rooms.sync import push_room

pytestmark = pytest.mark.django_db(transaction=True)


def _in_threads(*functions):
    """Run each function in its own thread (own connection), started together."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _room(owner) -> Room:
    start = timezone.now() + timedelta(hours=1)
    return Room.objects.create(
        title="Shared", owner=owner, valid_from=start, valid_until=start + timedelta(hours=1)
    )


def test_two_editors_of_one_version_one_wins_and_the_other_gets_a_conflict(scheduler, role_admin):
    room = _room(scheduler)

    def edit(actor, title):
        # Both editors load version 1 before either saves, as two open forms would.
        seen = Room.objects.get(pk=room.pk)

        def run():
            return services.room_update(actor=actor, room=seen, expected_version=1, title=title)

        return run

    results = _in_threads(edit(scheduler, "Mine"), edit(role_admin, "Theirs"))
    conflicts = [r for r in results if isinstance(r, Conflict)]
    saved = [r for r in results if isinstance(r, Room)]
    assert len(conflicts) == 1, results
    assert len(saved) == 1, results
    room.refresh_from_db()
    assert room.version == 2
    assert room.title == saved[0].title
    assert conflicts[0].current.title == room.title


def test_two_workers_racing_on_one_room_push_it_once(emulator, scheduler):
    room = _room(scheduler)
    # Slow ACS down so the two pushes overlap, even on a busy CI machine where the second thread
    # may start late; the second worker must find the room taken.
    emulator.set_faults(latency_ms=1500)
    results = _in_threads(lambda: push_room(room.pk), lambda: push_room(room.pk))
    assert sorted(map(str, results)) == ["busy", "synced"], results
    assert emulator.requests()["counts"].get("Rooms_Create") == 1
    room.refresh_from_db()
    assert room.acs_id and room.sync.state == "synced"
