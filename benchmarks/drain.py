"""The sync worker's ceiling: how fast `run_worker` empties a backlog, with 1 and with 4
processes, and how many ACS calls changes cost while a worker is running.

A backlog: one role change in each of N synced rooms, committed while no worker runs (ACS was
down, say, or the workers were being deployed), so N pushes are owed at once. Then k
`manage.py run_worker` processes start, and the figure is N divided by the seconds until every
room is synced again: the push rate in rooms per second, with ACS (the emulator, in a state
file the workers share) answering as fast as it can. Where the throughput benchmark paces the
changes, this measures what the workers can do at all.

Coalescing with the worker running: 100 role changes to one room, each in its own transaction,
made while a worker pushes them. `sync.calls_per_change` counts the calls with the worker
stopped while the changes commit (1 call for 100); here the worker takes each change as it
comes, so several changes can cost several calls: the figure is how many, against one call per
change for a naive push.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

import acs_gateway as acs
from benchmarks.seed import Seeded, seed_emulator, synced_rooms
from benchmarks.table import Report, Row, progress, ratio
from benchmarks.throughput import _drain_backlog
from benchmarks.worker import ProcessWorker
from outbox.models import SyncState
from rooms import services
from rooms.models import Participant, Role, Room

UPDATE = "Participants_Update"
CHANGES_ON_ONE_ROOM = 100


def _flip(actor, participant: Participant) -> None:
    role = Role.ATTENDEE if participant.role == Role.PRESENTER else Role.PRESENTER
    services.participant_role_change(actor=actor, participant=participant, role=role)
    participant.role = role


def _unsettled(ids: list[int]) -> int:
    return (
        Room.objects.filter(pk__in=ids)
        .exclude(sync__state=SyncState.SYNCED, sync__generation=F("sync__confirmed_generation"))
        .count()
    )


def _wait_settled(ids: list[int], timeout: float) -> tuple[float, int]:
    """Seconds until every room is synced (checked every 50 ms), and how many are not."""
    started = time.monotonic()
    while (left := _unsettled(ids)) and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started, left


def _updates(emulator) -> int:
    return sum(1 for entry in emulator.requests()["requests"] if entry["operation"] == UPDATE)


@contextlib.contextmanager
def _workers(count: int, state, run_dir) -> Iterator[None]:
    """`count` run_worker processes, started side by side; stopped on leaving."""
    with contextlib.ExitStack() as stack:
        workers = [
            ProcessWorker(acs_state=state, log=run_dir / f"drain-worker-{n}.log")
            for n in range(count)
        ]
        for worker in workers:
            worker.start()
            stack.push(worker.__exit__)
        for worker in workers:
            worker.wait_started()
        yield


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """Tasks enqueued inside are held back (run_after a day ahead) until it ends, so every
    worker is up before the first one takes a task, and the timing starts from their release.
    The sweep would enqueue them again only 30 s after each change (outbox SWEEP_GRACE)."""
    yield
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now() + timedelta(days=1))


def _release() -> None:
    DBTaskResult.objects.filter(status="READY").update(run_after=get_date_max())


def run(
    report: Report, seeded: Seeded, *, rooms: int, workers: tuple[int, ...] = (1, 2, 4)
) -> None:
    run_dir = settings.RUN_DIR
    state = run_dir / "acs-drain.sqlite3"
    emulator = acs.embedded_emulator(state)
    emulator.reset()
    made = synced_rooms(rooms, 10, seeded.scheduler, first_index=3_000_000, title="Drain")
    ids = [room.pk for room in made]
    seed_emulator(emulator, ids)
    first = {room.pk: Participant.objects.filter(room=room).order_by("pk").first() for room in made}
    # Earlier benchmarks may leave pushes owed: one worker drains them before anything is timed.
    with _workers(1, state, run_dir):
        backlog, seconds, _ = _drain_backlog()
    if backlog:
        report.note(f"drain: {backlog:,} pushes left by earlier benchmarks drained first")

    rates: dict[int, float] = {}
    for count in workers:
        progress(f"drain: {rooms} rooms owed a push, then {count} run_worker process(es)")
        with _held():
            for room in made:
                _flip(seeded.role_admin, first[room.pk])
        calls_before = _updates(emulator)
        with _workers(count, state, run_dir):
            # Timed from the tasks' release, every worker up: what is measured is the draining.
            _release()
            seconds, left = _wait_settled(ids, timeout=300)
        calls = _updates(emulator) - calls_before
        rates[count] = rooms / seconds
        baseline = rates[workers[0]]
        report.add(
            Row(
                f"backlog of {rooms} rooms drained by {count} run_worker process"
                f"{'es' if count > 1 else ''} (pushes/s)",
                f"{rates[count]:.1f} rooms/s",
                "-" if count == workers[0] else f"{baseline:.1f} rooms/s ({workers[0]} worker)",
                None if count == workers[0] else rates[count] / baseline,
                note=(
                    f"{seconds:.1f} s, {calls} participant PATCHes"
                    + (f"; {left} rooms NOT synced after 300 s" if left else "")
                ),
            )
        )

    progress(f"drain: {CHANGES_ON_ONE_ROOM} role changes to one room while a worker runs")
    room = made[0]
    # Fresh rows: the backlog runs above flipped the first person's role already.
    people = list(Participant.objects.filter(room=room).order_by("pk"))
    calls_before = _updates(emulator)
    with _workers(1, state, run_dir):
        for n in range(CHANGES_ON_ONE_ROOM):
            _flip(seeded.role_admin, people[n % len(people)])
        _, left = _wait_settled([room.pk], timeout=120)
    calls = _updates(emulator) - calls_before
    report.add(
        Row(
            f"ACS calls for {CHANGES_ON_ONE_ROOM} role changes to one room, separate "
            "transactions, the worker running",
            str(calls),
            f"{CHANGES_ON_ONE_ROOM} (naive call per change)",
            ratio(calls, CHANGES_ON_ONE_ROOM),
            note="room NOT synced at the end" if left else "",
        )
    )
