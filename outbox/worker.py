"""The task worker that rides out a lost database (`manage.py run_worker`).

django-tasks-db's `Worker.run` is one loop that raises on any database error other than a
locked SQLite file (and on an error recording a task's outcome), which ended `db_worker`: rooms
changed afterwards waited for a human to restart it. Here that loop runs inside another one:
on an error it closes the broken connections, backs off (capped, jittered), waits until the
database answers and starts the loop again. An outage is logged once when it starts and once
when the worker resumes; each try in between only at DEBUG.

Beside it a housekeeping thread runs the outbox's one scheduler (`outbox.engine.sweep`: it
enqueues every push that is due, a retry whose time has come or one whose worker's lease ran
out) when the next retry is due and at least every SWEEP_EVERY seconds, prunes finished
task results (django-tasks-db's `prune_db_task_results`) once an hour, runs the periodic
jobs the apps registered (outbox.registry.every: the rooms app rolls its series' horizon), and
stamps the worker's heartbeat every 10 s (outbox.heartbeat; the health check reads it).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connections, router
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult, get_date_max

from outbox import heartbeat, registry
from outbox.engine import SWEEP_GRACE, new_worker_id, next_try_after, sweep

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
# A worker that ran this long since it last resumed is healthy: its next error is a new outage.
HEALTHY_AFTER = 60.0
# Retries wait for the sweep, so it runs when the earliest one is due (ACS's Retry-After is
# about a second: waiting for a fixed round cost a throttled room a second each time), at least
# every SWEEP_EVERY seconds (a lease that ran out), and at most every SWEEP_SOONEST seconds.
SWEEP_EVERY = 2.0
SWEEP_SOONEST = 0.1
SWEEP_BATCH = 500
PRUNE_EVERY = 3600.0


class OutcomeNotRecorded(Exception):
    """The worker lost the database while it ran a task, so the task's outcome is unknown."""


def backoff_delay(tries: int, *, cap: float = BACKOFF_CAP, rng=random) -> float:
    """Seconds before try `tries + 1`: exponential from BACKOFF_BASE, capped, with jitter.

    The jitter (the upper half of the window) keeps several workers that lost the database
    together from knocking on it in step once it is back.
    """
    ceiling = min(cap, BACKOFF_BASE * 2 ** max(0, tries - 1))
    return rng.uniform(ceiling / 2, ceiling)


def close_connections() -> None:
    """Close this thread's connections, broken or not, so the next query opens a fresh one."""
    for conn in connections.all(initialized_only=True):
        with suppress(Exception):  # a connection the server dropped may fail to close cleanly
            conn.close()


def database_answers() -> None:
    """Raise unless the task queue's database answers a query."""
    with connections[router.db_for_read(DBTaskResult)].cursor() as cursor:
        cursor.execute("SELECT 1")


class Trouble:
    """One outage's log: a warning when it starts, DEBUG per try, one line when it is over."""

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic):
        self.what = what
        self.clock = clock
        self.since: float | None = None
        self.tries = 0
        self.told_over = False

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> int:
        """Count a failed try; returns how many failed in a row."""
        self.tries += 1
        if self.since is None:
            self.since = self.clock()
            log.warning(
                "%s failed: %s: %s. Retrying with backoff until it works "
                "(logged once; each try at DEBUG).",
                self.what,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        else:
            log.debug(
                "%s failed again (try %d): %s: %s", self.what, self.tries, type(exc).__name__, exc
            )
        return self.tries

    def over(self) -> None:
        """Say once that it works again (after `failed`); the next `failed` may still follow."""
        if self.since is not None and not self.told_over:
            self.told_over = True
            log.info(
                "%s works again after %.1f s and %d failed tries.",
                self.what,
                self.clock() - self.since,
                self.tries,
            )

    def forget(self) -> None:
        """The outage is behind us: the next failure is a new one, warned about again."""
        self.since = None
        self.tries = 0
        self.told_over = False


class PortalWorker(Worker):
    """django-tasks-db's worker, remembering the task it runs until its outcome is recorded."""

    running_result: DBTaskResult | None = None

    def run_task(self, db_task_result: DBTaskResult) -> None:
        # Worker.run_task records a task's own error as FAILED; only an error recording the
        # outcome (a lost database) escapes it, leaving the row RUNNING: see ResilientWorker.
        self.running_result = db_task_result
        super().run_task(db_task_result)
        self.running_result = None


class ResilientWorker:
    """Run a worker's loop until it ends by itself, starting it again after any error."""

    def __init__(
        self,
        worker: PortalWorker,
        *,
        max_backoff: float = BACKOFF_CAP,
        probe: Callable[[], None] = database_answers,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng=random,
    ):
        self.worker = worker
        self.max_backoff = max_backoff
        self.probe = probe
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self.trouble = Trouble("The task worker", clock)

    def run(self) -> None:
        while True:
            resumed_at = self.clock()
            try:
                # Returns only when --batch or --max-tasks say so; a signal exits the process.
                self.worker.run()
                return
            except Exception as exc:
                if not self.worker.running:
                    log.warning("The task worker stopped on request after an error: %s", exc)
                    return
                if self.trouble.ongoing and self.clock() - resumed_at >= HEALTHY_AFTER:
                    self.trouble.forget()
                self.trouble.failed(exc)
                # Worker.run sleeps a random second at start; it did so once already.
                self.worker.startup_delay = False
                self._wait_for_the_database()
                self._record_lost_outcome(exc)
                self.trouble.over()

    def _wait_for_the_database(self) -> None:
        while True:
            close_connections()
            self.sleep(backoff_delay(self.trouble.tries, cap=self.max_backoff, rng=self.rng))
            try:
                self.probe()
                return
            except Exception as exc:
                self.trouble.failed(exc)

    def _record_lost_outcome(self, exc: BaseException) -> None:
        """Mark FAILED the task whose outcome the error kept from being recorded, if any.

        Left RUNNING it would never be pruned; its push is enqueued again by the sweep anyway.
        """
        result, self.worker.running_result = self.worker.running_result, None
        if result is None:
            return
        lost = OutcomeNotRecorded(
            f"The worker lost the database while running this task ({exc}); "
            "what it did is unknown. Its push, if any, is retried by the sweep."
        )
        lost.__cause__ = exc
        try:
            result.set_failed(lost)
        except Exception as again:
            self.trouble.failed(again)


class Housekeeper(threading.Thread):
    """Enqueues due pushes as their time comes (at least every SWEEP_EVERY seconds); prunes
    old task results hourly."""

    def __init__(
        self,
        *,
        backend_name: str = "default",
        sweep_every: float = SWEEP_EVERY,
        prune_every: float = PRUNE_EVERY,
        clock: Callable[[], float] = time.monotonic,
        worker_id: str = "",
        beat_every: float = heartbeat.BEAT_EVERY,
    ):
        super().__init__(name="housekeeper", daemon=True)
        self.backend_name = backend_name
        # The heartbeat's row: the worker's own id (db_worker's --worker-id), one per process.
        self.worker_id = worker_id or new_worker_id()
        self.beat_every = beat_every
        self.next_beat = clock()
        self.sweep_every = sweep_every
        self.prune_every = prune_every
        self.clock = clock
        self.next_prune = clock()
        # Each app's periodic jobs (outbox.registry.every): when each runs next.
        self.next_runs: dict[str, float] = {}
        self.stopping = threading.Event()
        self.trouble = Trouble("Housekeeping (sweep, prune)", clock)

    def run(self) -> None:
        wait = self.sweep_every
        while not self.stopping.wait(wait):
            wait = self.tick()

    def stop(self) -> None:
        self.stopping.set()
        # A clean stop says goodbye, so the health check does not wait a minute to notice.
        with suppress(Exception):  # the database may be what stopped us
            heartbeat.stopped(self.worker_id)

    def tick(self) -> float:
        """One round; returns the seconds to wait before the next."""
        wait = self.sweep_every
        try:
            close_old_connections()
            if self.clock() >= self.next_beat:
                heartbeat.beat(self.worker_id)
                self.next_beat = self.clock() + self.beat_every
            if swept := sweep(limit=SWEEP_BATCH, queue_behind=queue_behind()):
                log.info("Enqueued %d due pushes", swept)
            wait = self.until_next_try() if swept < SWEEP_BATCH else SWEEP_SOONEST
            if self.clock() >= self.next_prune:
                prune_task_results(self.backend_name)
                self.next_prune = self.clock() + self.prune_every
            self.run_periodic()
        except Exception as exc:
            # The database may be gone for a while; the next round tries again.
            self.trouble.failed(exc)
        else:
            self.trouble.over()
            self.trouble.forget()
        finally:
            close_connections()
        return wait

    def run_periodic(self) -> None:
        """Run the apps' periodic jobs that are due (the first round runs them all)."""
        for job in registry.periodic():
            if self.clock() < self.next_runs.get(job.name, float("-inf")):
                continue
            # Set first: a job that fails waits its period rather than failing every round.
            self.next_runs[job.name] = self.clock() + job.every
            job.run()

    def until_next_try(self) -> float:
        """Seconds until the earliest retry is due, within [SWEEP_SOONEST, sweep_every]."""
        now = timezone.now()
        if (at := next_try_after(now)) is None:
            return self.sweep_every
        return min(self.sweep_every, max(SWEEP_SOONEST, (at - now).total_seconds()))


def queue_behind() -> bool:
    """Whether a task due to run has waited longer than SWEEP_GRACE: the workers are behind
    (outbox.engine.sweep then leaves pending pushes to the tasks already queued). One probe of
    django-tasks-db's index of ready tasks."""
    waited = timezone.now() - SWEEP_GRACE
    return (
        DBTaskResult.objects.filter(status=TaskResultStatus.READY, enqueued_at__lt=waited)
        .filter(Q(run_after=get_date_max()) | Q(run_after__lt=waited))
        .exists()
    )


def prune_task_results(backend_name: str = "default") -> None:
    """Delete task results finished more than TASK_RESULT_RETENTION_DAYS ago, in every queue."""
    call_command(
        "prune_db_task_results",
        f"--backend={backend_name}",
        "--queue-name=*",
        f"--min-age-days={settings.TASK_RESULT_RETENTION_DAYS}",
    )
