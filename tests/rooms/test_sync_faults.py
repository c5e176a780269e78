"""Pushes survive ACS failing: retried with backoff, never duplicated, never lost."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

import acs_gateway as acs
from outbox.engine import backoff_delay, sweep
from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import services
from rooms.models import Room
from rooms.sync import push_room
from tests.conftest import run_tasks
from tests.outbox_rows import let_retries_come, replace_pusher, set_sync

pytestmark = pytest.mark.django_db


def _create(actor, capture, title="Resilient"):
    start = timezone.now() + timedelta(hours=1)
    with capture(execute=True):
        return services.room_create(
            actor=actor, title=title, valid_from=start, valid_until=start + timedelta(hours=1)
        )


def _acs_room_count() -> int:
    return sum(1 for _ in acs.get_gateway().list_rooms())


def test_a_room_created_while_acs_is_down_exists_once_after_recovery(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    emulator.set_faults(error_rates={503: 1.0})
    room = _create(scheduler, django_capture_on_commit_callbacks)
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.FAILED
    assert room.sync.next_try_at > timezone.now()
    assert "503" in room.sync.last_error or "unavailable" in room.sync.last_error.lower()
    assert AuditEvent.objects.filter(action="acs.room.created_failed", room_id=room.pk).exists()

    emulator.clear_faults()
    let_retries_come()
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.SYNCED
    assert _acs_room_count() == 1


def test_a_create_whose_answer_was_lost_is_replayed_not_duplicated(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    # ACS makes the room, then the connection drops before the answer arrives.
    emulator.set_faults(drop_rate=1.0, drop_when="after")
    room = _create(scheduler, django_capture_on_commit_callbacks)
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.FAILED
    assert room.acs_id is None
    emulator.clear_faults()
    assert _acs_room_count() == 1, "ACS applied the create whose answer was lost"

    let_retries_come()
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.SYNCED
    assert _acs_room_count() == 1


def test_a_throttled_push_waits_at_least_retry_after(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    emulator.set_faults(error_rates={429: 1.0})
    room = _create(scheduler, django_capture_on_commit_callbacks)
    before = timezone.now()
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.FAILED
    # The emulator answers 429 with Retry-After: 1. The retry is the sweep's, once it is due.
    assert room.sync.next_try_at >= before + timedelta(seconds=1)
    assert not DBTaskResult.objects.filter(status="READY").exists()
    assert sweep() == 0


def test_a_room_deleted_while_acs_is_down_is_gone_after_recovery(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    room = _create(scheduler, django_capture_on_commit_callbacks)
    run_tasks()
    emulator.set_faults(error_rates={500: 1.0})
    with django_capture_on_commit_callbacks(execute=True):
        services.room_delete(actor=scheduler, room=room)
    run_tasks()
    room.refresh_from_db()
    assert room.deleted_at is not None
    assert room.sync.state == SyncState.FAILED

    emulator.clear_faults()
    let_retries_come()
    run_tasks()
    assert not Room.objects.filter(pk=room.pk).exists()
    assert _acs_room_count() == 0


def test_a_push_acs_refuses_stops_with_the_reason_and_is_not_retried(
    emulator, scheduler, django_capture_on_commit_callbacks
):
    room = _create(scheduler, django_capture_on_commit_callbacks)
    # Make the stored window one ACS refuses (it ended), behind the services' back.
    Room.objects.filter(pk=room.pk).update(
        valid_from=timezone.now() - timedelta(hours=3),
        valid_until=timezone.now() - timedelta(hours=2),
    )
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.STOPPED
    assert "past" in room.sync.last_error
    assert room.sync.next_try_at is None
    assert not DBTaskResult.objects.filter(status="READY").exists()


def test_a_room_held_by_another_worker_is_not_pushed_twice(emulator, scheduler, settings):
    from outbox.engine import claim

    room = Room.objects.create(
        title="Contested",
        owner=scheduler,
        valid_from=timezone.now() + timedelta(hours=1),
        valid_until=timezone.now() + timedelta(hours=2),
    )
    assert claim("room", room.pk, "worker-a")
    assert push_room(room.pk, worker="worker-b") == "busy"
    assert emulator.requests()["counts"].get("Rooms_Create", 0) == 0


def test_a_change_made_during_a_push_is_pushed_too(
    emulator, scheduler, django_capture_on_commit_callbacks, monkeypatch
):
    room = _create(scheduler, django_capture_on_commit_callbacks)
    from rooms import sync

    real = sync._push_once
    calls = []

    def push_and_meanwhile_edit(room_obj, lease):
        result = real(room_obj, lease)
        if not calls:
            # Another request commits an edit while this push is in flight.
            Room.objects.filter(pk=room_obj.pk).update(pstn_dial_out_enabled=True)
            sync.mark_room_dirty(room_obj.pk)
        calls.append(result)
        return result

    replace_pusher(monkeypatch, "room", push_and_meanwhile_edit)
    assert push_room(room.pk) == SyncState.SYNCED
    assert len(calls) == 2
    room.refresh_from_db()
    assert acs.get_gateway().get_room(room.acs_id).pstn_dial_out_enabled is True


@pytest.mark.parametrize("attempt", [1, 3, 10])
def test_backoff_grows_and_honours_retry_after(attempt):
    delays = [backoff_delay(attempt) for _ in range(50)]
    assert all(0 < d <= 600 for d in delays)
    honoured = [backoff_delay(attempt, retry_after=30) for _ in range(50)]
    # At least what ACS asked, whatever the attempt, spread over the next Retry-After.
    assert all(30 <= d <= 60 for d in honoured)
    assert max(honoured) - min(honoured) > 5


def test_retry_now_pushes_a_stopped_room_again_once_its_cause_is_fixed(
    emulator, scheduler, auditor, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied

    emulator.set_faults(error_rates={400: 1.0})
    room = _create(scheduler, django_capture_on_commit_callbacks)
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.STOPPED

    emulator.clear_faults()
    with pytest.raises(PermissionDenied):
        services.room_retry_sync(actor=auditor, room=room)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_retry_sync(actor=scheduler, room=room)
    run_tasks()
    room.refresh_from_db()
    assert (room.sync.state, room.sync.attempts) == (SyncState.SYNCED, 0)
    assert AuditEvent.objects.filter(action="portal.room.sync_requested", actor=scheduler).exists()


def test_the_sweeper_finds_a_pending_row_that_was_never_scheduled(emulator, scheduler):
    room = Room.objects.create(
        title="Made in bulk",
        owner=scheduler,
        valid_from=timezone.now() + timedelta(hours=1),
        valid_until=timezone.now() + timedelta(hours=2),
    )
    # As a migrated row may be: pending, with no time for its push and no task.
    set_sync(room, next_try_at=None)
    DBTaskResult.objects.all().delete()
    assert sweep() == 1
    assert DBTaskResult.objects.filter(args_kwargs__args=["room", room.pk]).count() == 1
    run_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.SYNCED
