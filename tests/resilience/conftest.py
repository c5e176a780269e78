"""Resilience tools: let time pass, run or kill the worker, compare ACS with the portal."""

from __future__ import annotations

import logging
import random
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Min, Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

import acs_gateway as acs
from identities.models import Identity
from outbox import engine as machinery
from outbox.models import Entry, SyncState
from rooms.models import Participant, Room
from rooms.sync import acs_valid_from
from tests.conftest import run_tasks

READY = "READY"
# Long enough for every backoff (capped), every sweep grace and every lease to run out.
LONG_WAIT = timedelta(seconds=machinery.BACKOFF_CAP) + machinery.SWEEP_GRACE + machinery.LEASE

# The emulator's operation names, as the gateway (and so the audit trail) names them.
GATEWAY_OPERATION = {
    "Rooms_Create": "create_room",
    "Rooms_Get": "get_room",
    "Rooms_Update": "update_room",
    "Rooms_Delete": "delete_room",
    "Rooms_List": "list_rooms",
    "Participants_List": "list_participants",
    "Participants_Update": "update_participants",
    "Identity_Create": "create_user",
    "Identity_Delete": "delete_user",
}
MUTATING_ROOM_CALLS = ("create_room", "update_room", "update_participants", "delete_room")


class WorkerKilled(BaseException):
    """The worker process died mid-task (SIGKILL, OOM, a power cut): nothing after it runs."""


@pytest.fixture(autouse=True)
def quiet_worker(caplog):
    """The worker logs two lines per task; thousands of them would bury a failure's report."""
    caplog.set_level(logging.WARNING, logger="django.tasks")
    caplog.set_level(logging.WARNING, logger="django_tasks_db")


@pytest.fixture
def fast_commits(transactional_db):
    """On PostgreSQL, commit without waiting for the disk, for this test's connection only.

    A long simulation commits some 15,000 times; waiting for each WAL flush was a third of its
    time and tests nothing here: what other sessions see, and when, is unchanged.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


@pytest.fixture
def seeded_jitter(monkeypatch):
    """Make the backoff jitter repeatable, so a seed replays the same run; returns the seeder."""

    def seed(value: int) -> None:
        # outbox.engine draws its jitter from the module `random`; a seeded one keeps the policy.
        monkeypatch.setattr(machinery, "random", random.Random(value))

    return seed


class VirtualClock:
    """Time that passes only when the test says so, the same for the portal and for ACS.

    Each reading moves it on by a microsecond, so rows still get distinct, ordered times. A
    frozen clock makes a seeded run repeat exactly: with the real clock, whether a retry is due
    at a given turn would depend on how fast the machine ran the turns before it.
    """

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        self.at += timedelta(microseconds=1)
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@pytest.fixture
def clock(emulator, monkeypatch) -> VirtualClock:
    """Put the portal (django.utils.timezone.now) and the emulator's APIs on one clock.

    Sharing it keeps ACS's 5-minute replay window and the portal's own view of that window in
    step. The emulator's signature check keeps the real clock: the SDK dates its requests with
    the real time, and ACS checks that against its own.
    """
    virtual = VirtualClock()
    monkeypatch.setattr(timezone, "now", virtual.now)
    put_on_clock(emulator, virtual, monkeypatch)
    return virtual


def put_on_clock(emulator, virtual: VirtualClock, monkeypatch) -> None:
    """The emulator's Rooms and Identity APIs, and their repeatable creates, on the clock."""
    for api in (emulator.rooms, emulator.identity):
        monkeypatch.setattr(api, "now", virtual.now)
        # The replay window is judged, and a room's createdAt stamped, by the create's helper.
        if hasattr(api, "repeatable"):
            monkeypatch.setattr(api.repeatable, "now", virtual.now)


def work() -> int:
    """The worker sweeps, as run_worker does beside its loop (retries that came due, pushes
    whose task was lost or whose lease ran out), then runs every task that is due, until none
    is left; returns how many ran."""
    machinery.sweep()
    ran = 0
    while True:
        batch = run_tasks(max_rounds=500)
        ran += batch
        if batch < 500:
            return ran


@contextmanager
def dying_worker(after_calls: int):
    """The worker dies right after its `after_calls`-th write to ACS got ACS's answer.

    ACS applied the call; the portal never recorded the answer, the lease stays held and the task
    row stays RUNNING (a dead process marks nothing failed). Yields a list that gets the name of
    the call the worker died in.
    """
    died_in: list[str] = []
    calls = {"n": 0}
    real_set_failed = DBTaskResult.set_failed

    def set_failed(self, exc):
        if isinstance(exc, WorkerKilled):
            raise exc  # a dead process records nothing
        return real_set_failed(self, exc)

    def mortal(name):
        real = getattr(acs.AcsGateway, name)

        def call(self, *args, **kwargs):
            result = real(self, *args, **kwargs)
            calls["n"] += 1
            if calls["n"] == after_calls and not died_in:
                died_in.append(name)
                raise WorkerKilled(name)
            return result

        return call

    patches = [mock.patch.object(acs.AcsGateway, n, mortal(n)) for n in MUTATING_ROOM_CALLS]
    patches.append(mock.patch.object(DBTaskResult, "set_failed", set_failed))
    for patch in patches:
        patch.start()
    try:
        yield died_in
    finally:
        for patch in reversed(patches):
            patch.stop()


def work_until_killed(after_calls: int) -> list[str]:
    """Run the worker until it dies after its n-th ACS write (or runs out of work first)."""
    with dying_worker(after_calls) as died_in, suppress(WorkerKilled):
        work()
    return died_in


def lose_queued_tasks(rng: random.Random, share: float) -> int:
    """Delete a share of the queued tasks, the way they get lost.

    A process that dies between its commit and the enqueue that runs on commit leaves a change
    with no task; so does an operator who purges the queue. Only the sweeper can find those.
    """
    queued = list(
        DBTaskResult.objects.filter(status=READY).order_by("enqueued_at", "id").values_list("id")
    )
    lost = rng.sample(queued, round(len(queued) * share))
    DBTaskResult.objects.filter(id__in=[row[0] for row in lost]).delete()
    return len(lost)


def outstanding() -> list[str]:
    """What still waits for the worker: unfinished pushes, held leases, queued tasks."""
    unfinished = Q(state__in=[SyncState.PENDING, SyncState.FAILED]) | Q(held_until__isnull=False)
    waiting = [
        f"{kind} {pk}: {state} {error}".strip()
        for kind, pk, state, error in Entry.objects.filter(unfinished).values_list(
            "kind", "object_id", "state", "last_error"
        )
    ]
    queued = DBTaskResult.objects.filter(status=READY).count()
    return waiting + ([f"{queued} queued task(s)"] if queued else [])


def _wait_before_next_round() -> timedelta:
    """LONG_WAIT, unless a create that got no answer must be replayed before ACS forgets it.

    Such a retry is scheduled inside ACS's 5-minute replay window; a worker that is running
    makes it then. Jumping past it would be the worker down for minutes, which stops the
    identity for a person (tested on its own in tests/identities/test_sync.py).
    """
    soonest = Identity.objects.filter(
        raw_id=None,
        sync__acs__create_unanswered=True,
        sync__state__in=[SyncState.PENDING, SyncState.FAILED],
    ).aggregate(at=Min("sync__next_try_at"))["at"]
    if soonest is None:
        return LONG_WAIT
    # Past the retry by the sweep's grace: a retry whose task was lost is swept up too.
    wait = max(soonest - timezone.now(), timedelta(0)) + machinery.SWEEP_GRACE
    return min(wait + timedelta(seconds=1), LONG_WAIT)


def settle(clock: VirtualClock, max_rounds: int = 20) -> int:
    """Run sweeper and worker, with every retry due, until nothing is left to do; returns rounds.

    A round waits out every backoff, sweep grace and lease (LONG_WAIT), so each round retries
    everything that failed in the round before; without faults a round or two suffices.
    """
    for rounds in range(1, max_rounds + 1):
        clock.advance(_wait_before_next_round())
        machinery.sweep()
        work()
        if not outstanding():
            return rounds
    raise AssertionError(f"Still not quiet after {max_rounds} rounds: {outstanding()[:20]}")


# --------------------------------------------------------------------------- comparing


def acs_rooms() -> dict[str, dict]:
    """Every room ACS holds, with its roster (read through the SDK, like reconcile does)."""
    gateway = acs.get_gateway()
    held = {}
    for room in gateway.list_rooms():
        assert room.id not in held, f"ACS listed room {room.id} twice"
        held[room.id] = {
            "valid_from": room.valid_from,
            "valid_until": room.valid_until,
            "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
            "participants": gateway.list_participants(room.id),
        }
    return held


def portal_rooms() -> dict[str, dict]:
    """Every live portal room in the same shape, keyed by its ACS id (None: never created)."""
    shown: dict = {}
    for room in Room.objects.filter(deleted_at__isnull=True):
        roster = dict(
            Participant.objects.filter(room=room, identity__deleted_at__isnull=True).values_list(
                "identity__raw_id", "role"
            )
        )
        assert room.acs_id not in shown, f"two portal rooms name ACS room {room.acs_id}"
        shown[room.acs_id] = {
            # As the sync sends it: the start, fingerprinted with the room's id.
            "valid_from": acs_valid_from(room),
            "valid_until": room.valid_until,
            "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
            "participants": roster,
        }
    return shown


def acs_users(emulator) -> dict[str, bool]:
    """Every ACS user the emulator made, and whether it is deleted.

    ACS has no operation that lists users, so this reads the emulator's own store.
    """
    with emulator.store.read() as conn:
        rows = conn.execute("SELECT id, deleted FROM identities").fetchall()
    return {row["id"]: row["deleted"] is not None for row in rows}


def request_outcomes(emulator) -> tuple[Counter, Counter]:
    """ACS's own log of what it was asked: (failed, succeeded) as (operation, status) counts.

    A dropped connection is status None, as the gateway records it (no answer arrived).
    """
    failed: Counter = Counter()
    succeeded: Counter = Counter()
    for request in emulator.requests()["requests"]:
        operation = GATEWAY_OPERATION[request["operation"]]
        status = request["status"] or None
        if status is None or status >= 400:
            failed[operation, status] += 1
        else:
            succeeded[operation, status] += 1
    return failed, succeeded


def audited_outcomes() -> tuple[Counter, Counter]:
    """The audit trail's record of ACS calls: (failed, succeeded) as (operation, status) counts."""
    from portal.models import AuditEvent

    failed: Counter = Counter()
    succeeded: Counter = Counter()
    events = AuditEvent.objects.filter(action__startswith="acs.")
    for action, outcome in events.values_list("action", "acs_outcome"):
        if not outcome or "operation" not in outcome:
            continue
        key = (outcome["operation"], outcome["status"])
        (failed if action.endswith("_failed") else succeeded)[key] += 1
    return failed, succeeded
