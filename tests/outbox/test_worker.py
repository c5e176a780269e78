"""run_worker's housekeeper sweeps when the earliest retry is due, not on a fixed round only.

ACS asks a throttled client to come back after about a second (Retry-After); a sweep every two
seconds made each throttled room wait up to two more (docs/benchmarks.md, throughput).
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from outbox import worker as portal_worker
from outbox.engine import SWEEP_GRACE, next_try_after, push_task
from outbox.models import SyncState
from outbox.worker import SWEEP_EVERY, SWEEP_SOONEST, Housekeeper
from rooms.models import Room
from tests.outbox_rows import set_sync

# tick() closes its connections as run_worker's thread does: only a transactional test survives it.
pytestmark = pytest.mark.django_db(transaction=True)


def _room(owner, title="Retried") -> Room:
    start = timezone.now() + timedelta(hours=1)
    return Room.objects.create(
        title=title, owner=owner, valid_from=start, valid_until=start + timedelta(hours=1)
    )


def test_the_next_try_is_the_earliest_future_one_of_a_push_still_owed(scheduler):
    now = timezone.now()
    soon, later, past, done, stopped = (_room(scheduler, str(i)) for i in range(5))
    set_sync(soon, state=SyncState.FAILED, next_try_at=now + timedelta(seconds=0.7))
    set_sync(later, state=SyncState.PENDING, next_try_at=now + timedelta(seconds=9))
    set_sync(past, state=SyncState.FAILED, next_try_at=now - timedelta(seconds=1))
    set_sync(done, state=SyncState.SYNCED, next_try_at=now + timedelta(seconds=0.1))
    set_sync(stopped, state=SyncState.STOPPED, next_try_at=now + timedelta(seconds=0.2))
    assert next_try_after(now) == now + timedelta(seconds=0.7)
    assert next_try_after(now + timedelta(seconds=1)) == now + timedelta(seconds=9)
    assert next_try_after(now + timedelta(seconds=10)) is None


def test_the_housekeeper_wakes_for_a_retry_due_before_its_round(scheduler):
    room = _room(scheduler)
    set_sync(room, state=SyncState.FAILED, next_try_at=timezone.now() + timedelta(seconds=0.8))
    DBTaskResult.objects.all().delete()  # the create's own task
    wait = Housekeeper().tick()
    assert SWEEP_SOONEST <= wait <= 0.8
    # Nothing was due yet: nothing enqueued.
    assert not DBTaskResult.objects.filter(args_kwargs__args=["room", room.pk]).exists()


def test_the_housekeeper_keeps_its_round_with_nothing_due_soon(scheduler):
    set_sync(_room(scheduler), state=SyncState.FAILED, next_try_at=timezone.now() + timedelta(1))
    assert Housekeeper().tick() == SWEEP_EVERY
    assert Housekeeper(sweep_every=0.5).tick() == 0.5


def test_the_housekeeper_never_spins_on_a_retry_already_due(scheduler):
    room = _room(scheduler)
    set_sync(room, state=SyncState.FAILED, next_try_at=timezone.now() + timedelta(seconds=0.001))
    assert Housekeeper().tick() >= SWEEP_SOONEST


def test_a_full_batch_sweeps_again_at_once(scheduler, monkeypatch):
    monkeypatch.setattr(portal_worker, "SWEEP_BATCH", 2)
    rooms = [_room(scheduler, str(i)) for i in range(3)]
    for room in rooms:
        set_sync(room, state=SyncState.FAILED, next_try_at=timezone.now() - timedelta(seconds=1))
    DBTaskResult.objects.all().delete()
    housekeeper = Housekeeper()
    assert housekeeper.tick() == SWEEP_SOONEST
    assert housekeeper.tick() == SWEEP_EVERY
    enqueued = {tuple(r.args_kwargs["args"]) for r in DBTaskResult.objects.all()}
    assert enqueued == {("room", room.pk) for room in rooms}


def _task_waiting_since(seconds: float) -> None:
    """A ready task (any push) enqueued `seconds` ago: the queue's oldest."""
    result = push_task.enqueue("room", 0)
    DBTaskResult.objects.filter(id=result.id).update(
        enqueued_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_backed_up_queue_gets_no_duplicate_of_a_push_already_queued(scheduler):
    """While the workers are behind, a pending push's task waits in the queue: the sweep must
    not add another ahead of newer changes every SWEEP_GRACE. A retry (failed) and a push a
    killed worker left have no task, so they are still enqueued."""
    now = timezone.now()
    pending, failed, abandoned = (_room(scheduler, str(i)) for i in range(3))
    set_sync(pending, state=SyncState.PENDING, next_try_at=now - timedelta(seconds=1))
    set_sync(failed, state=SyncState.FAILED, next_try_at=now - timedelta(seconds=1))
    set_sync(
        abandoned,
        state=SyncState.PENDING,
        next_try_at=now - timedelta(seconds=1),
        holder="killed",
        held_until=now - timedelta(seconds=5),
    )
    DBTaskResult.objects.all().delete()
    _task_waiting_since(SWEEP_GRACE.total_seconds() + 5)
    assert portal_worker.queue_behind()

    Housekeeper().tick()

    enqueued = {tuple(r.args_kwargs["args"]) for r in DBTaskResult.objects.all()}
    assert ("room", failed.pk) in enqueued and ("room", abandoned.pk) in enqueued
    assert ("room", pending.pk) not in enqueued


def test_a_queue_keeping_up_gets_a_lost_push_enqueued_again(scheduler):
    room = _room(scheduler)
    set_sync(room, state=SyncState.PENDING, next_try_at=timezone.now() - timedelta(seconds=1))
    DBTaskResult.objects.all().delete()
    _task_waiting_since(1)
    assert not portal_worker.queue_behind()

    Housekeeper().tick()

    assert DBTaskResult.objects.filter(args_kwargs__args=["room", room.pk]).exists()
