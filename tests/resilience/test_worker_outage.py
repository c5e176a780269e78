"""The task worker rides out a lost database and a failing task, and prunes old task results.

`manage.py run_worker` (outbox/worker.py) is what scripts/run.sh starts and the deployment runs.
On PostgreSQL the test takes the database away for real (ALLOW_CONNECTIONS false and every
backend terminated); on SQLite the worker's connections fail while a flag file exists.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import pytest
from django.db import OperationalError, connection
from django.tasks import task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from outbox import worker as portal_worker
from outbox.worker import Housekeeper, PortalWorker, ResilientWorker, backoff_delay
from rooms import services
from rooms.models import Room

BASE_DIR = Path(__file__).resolve().parents[2]
# What scripts/run.sh and deploy/ start.
WORKER_COMMAND = ["run_worker", "--max-backoff", "0.5"]
WAIT = 60  # seconds: a bound for waiting on the worker process, never a measured expectation
OUTAGE_WARNING = "The task worker failed:"
FAILED_AGAIN = "The task worker failed again"


@task
def explode() -> None:
    raise RuntimeError("a bug in one task")


@task
def answer() -> int:
    return 42


def _worker(**options) -> PortalWorker:
    return PortalWorker(
        **{
            "queue_names": ["*"],
            "interval": 0,
            "batch": True,
            "backend_name": "default",
            "startup_delay": False,
            "max_tasks": None,
            "worker_id": "outage-test",
            "excluded_queue_names": [],
            **options,
        }
    )


def _result(handle) -> DBTaskResult:
    return DBTaskResult.objects.get(pk=handle.id)


# --------------------------------------------------------------------------- one task's error


@pytest.mark.django_db(transaction=True)
def test_an_error_in_one_task_is_recorded_as_failed_and_the_worker_runs_the_next():
    failing, fine = explode.enqueue(), answer.enqueue()
    ResilientWorker(_worker()).run()

    failed = _result(failing)
    assert failed.status == "FAILED"
    assert failed.exception_class_path == "builtins.RuntimeError"
    assert "a bug in one task" in failed.traceback
    assert (_result(fine).status, _result(fine).return_value) == ("SUCCESSFUL", 42)


@pytest.mark.django_db(transaction=True)
def test_a_task_whose_outcome_was_lost_with_the_database_is_marked_failed_once_it_is_back(caplog):
    """The database goes away while a task runs: its outcome cannot be written, which escapes
    django-tasks-db's loop. The worker waits for the database, records the task FAILED (not
    left RUNNING for ever) and runs the next one."""
    caplog.set_level(logging.DEBUG, logger="outbox.worker")
    lost, later = answer.enqueue(), answer.enqueue()
    down = {"now": False}
    real_successful, real_failed = DBTaskResult.set_successful, DBTaskResult.set_failed

    def set_successful(self, value):
        if str(self.pk) == lost.id:
            down["now"] = True  # the server went away as the task finished
        if down["now"]:
            raise OperationalError("server closed the connection unexpectedly")
        return real_successful(self, value)

    def set_failed(self, exc):
        if down["now"]:
            raise OperationalError("server closed the connection unexpectedly")
        return real_failed(self, exc)

    probes = {"n": 0}

    def probe():
        probes["n"] += 1
        if probes["n"] < 3:
            raise OperationalError("connection refused")
        down["now"] = False

    with (
        mock.patch.object(DBTaskResult, "set_successful", set_successful),
        mock.patch.object(DBTaskResult, "set_failed", set_failed),
    ):
        ResilientWorker(_worker(), probe=probe, sleep=lambda seconds: None).run()

    recorded = _result(lost)
    assert recorded.status == "FAILED"
    assert recorded.exception_class_path == "outbox.worker.OutcomeNotRecorded"
    assert "server closed the connection unexpectedly" in recorded.traceback
    assert _result(later).status == "SUCCESSFUL"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == ["The task worker failed"]


# --------------------------------------------------------------------------- backoff, logging


class FlakyWorker:
    """Stands in for django-tasks-db's Worker: its loop raises `errors` times, then ends."""

    def __init__(self, errors: int):
        self.errors = errors
        self.runs = 0
        self.running = True
        self.startup_delay = True
        self.running_result = None

    def run(self) -> None:
        self.runs += 1
        if self.runs <= self.errors:
            raise OperationalError('database "portal" is not currently accepting connections')


def test_the_worker_backs_off_capped_and_jittered_and_warns_once_per_outage(caplog):
    caplog.set_level(logging.DEBUG, logger="outbox.worker")
    flaky = FlakyWorker(errors=3)
    probes = {"n": 0}

    def probe():  # the database stays away for 8 more tries
        probes["n"] += 1
        if probes["n"] <= 8:
            raise OperationalError("connection refused")

    slept: list[float] = []
    closed = mock.Mock()
    with mock.patch.object(portal_worker, "close_connections", closed):
        ResilientWorker(
            flaky, max_backoff=4.0, probe=probe, sleep=slept.append, rng=random.Random(7)
        ).run()

    assert flaky.runs == 4, "the loop was started again after each error"
    assert flaky.startup_delay is False
    # Before every probe the broken connections are closed, so the probe opens a fresh one.
    assert closed.call_count == len(slept) == probes["n"]
    ceilings = [min(4.0, portal_worker.BACKOFF_BASE * 2 ** (try_ - 1)) for try_ in range(1, 12)]
    assert len(slept) == 11
    for waited, ceiling in zip(slept, ceilings, strict=True):
        assert ceiling / 2 <= waited <= ceiling
    assert max(slept) <= 4.0
    assert len(set(slept)) == len(slept), "jitter: no two waits alike"

    by_level = {
        level: [r.getMessage() for r in caplog.records if r.levelno == level]
        for level in (logging.WARNING, logging.INFO, logging.DEBUG)
    }
    assert len(by_level[logging.WARNING]) == 1
    assert by_level[logging.WARNING][0].startswith(OUTAGE_WARNING)
    assert by_level[logging.INFO] == [
        m for m in by_level[logging.INFO] if m.startswith("The task worker works again")
    ]
    assert len(by_level[logging.INFO]) == 1
    assert len([m for m in by_level[logging.DEBUG] if m.startswith(FAILED_AGAIN)]) == 10


def test_the_jitter_stays_in_the_upper_half_of_a_capped_window():
    rng = random.Random(1)
    for tries in range(1, 40):
        ceiling = min(30.0, portal_worker.BACKOFF_BASE * 2 ** (tries - 1))
        assert ceiling / 2 <= backoff_delay(tries, cap=30.0, rng=rng) <= ceiling


# --------------------------------------------------------------------------- the real process


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    user = quote(db.get("USER") or "postgres", safe="")
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/"
        f"{quote(db['NAME'], safe='')}"
    )


# On SQLite a process of its own cannot be cut off from a file; this launcher makes every
# connection of the worker fail while the flag file exists, like a server that went away.
SQLITE_OUTAGE_LAUNCHER = """
import os, sys
from pathlib import Path
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

flag = Path(os.environ["WORKER_TEST_OUTAGE_FLAG"])

def guard(real):
    def call(self, *args, **kwargs):
        if flag.exists():
            raise OperationalError("unable to open database file (taken away by the test)")
        return real(self, *args, **kwargs)
    return call

BaseDatabaseWrapper.ensure_connection = guard(BaseDatabaseWrapper.ensure_connection)
CursorWrapper.execute = guard(CursorWrapper.execute)
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", *sys.argv[1:]])
"""


class WorkerProcess:
    def __init__(self, log: Path, outage_flag: Path):
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": _database_url(),
            "LOG_LEVEL": "DEBUG",
            "TASK_BACKEND": "database",
            "WORKER_TEST_OUTAGE_FLAG": str(outage_flag),
        }
        options = ["--interval", "0.1", "--no-startup-delay", "--no-reload"]
        if connection.vendor == "sqlite":
            argv = [sys.executable, "-c", SQLITE_OUTAGE_LAUNCHER, *WORKER_COMMAND, *options]
        else:
            argv = [sys.executable, "manage.py", *WORKER_COMMAND, *options]
        self._out = log.open("w")
        self.process = subprocess.Popen(
            argv, cwd=BASE_DIR, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, what: str, condition) -> None:
        """Poll until `condition()`; the worker must stay alive meanwhile."""
        deadline = time.monotonic() + WAIT
        while not condition():
            assert self.process.poll() is None, (
                f"the worker exited ({self.process.returncode}) while waiting for {what}:\n"
                + self.output()[-6000:]
            )
            assert time.monotonic() < deadline, (
                f"no {what} within {WAIT} s:\n{self.output()[-6000:]}"
            )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


@contextmanager
def database_refused(flag: Path):
    """Take the database away from the worker until the block ends."""
    if connection.vendor == "sqlite":
        flag.touch()
        try:
            yield
        finally:
            flag.unlink()
        return

    import psycopg

    name = connection.settings_dict["NAME"]
    db = connection.settings_dict
    admin = psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    quoted = '"' + name.replace('"', '""') + '"'
    try:
        admin.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false")
        # Every open connection goes too, this test's own included.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        yield
    finally:
        admin.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true")
        admin.close()
        with suppress(Exception):
            connection.close()


def _room(actor, title: str) -> Room:
    start = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    return services.room_create(
        actor=actor, title=title, valid_from=start, valid_until=start + timedelta(hours=1)
    )


def _synced(room: Room):
    def check() -> bool:
        room.refresh_from_db()
        return room.sync.state == "synced"

    return check


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_outlives_a_lost_database_and_then_pushes_new_rooms(scheduler, tmp_path):
    flag = tmp_path / "database-gone"
    worker = WorkerProcess(tmp_path / "worker.log", flag)
    try:
        worker.wait_for("worker start", lambda: "Starting worker" in worker.output())
        before = _room(scheduler, "Before the outage")
        worker.wait_for("the first room's push", _synced(before))

        with database_refused(flag):
            # Several tries fail while the database is gone; the process stays up.
            worker.wait_for("three failed tries", lambda: worker.output().count(FAILED_AGAIN) >= 2)

        after = _room(scheduler, "After the outage")
        worker.wait_for("the push of a room created after the outage", _synced(after))
        assert after.acs_id
        log = worker.output()
        assert log.count(OUTAGE_WARNING) == 1, "an outage is warned about once, not per try"
        assert log.count("The task worker works again") == 1
        assert worker.process.poll() is None
    finally:
        worker.stop()


# --------------------------------------------------------------------------- pruning


def _finished(handle, *, status: str, days_ago: float) -> None:
    DBTaskResult.objects.filter(pk=handle.id).update(
        status=status, finished_at=timezone.now() - timedelta(days=days_ago)
    )


@pytest.mark.django_db(transaction=True)
def test_housekeeping_prunes_finished_results_past_the_retention_hourly(settings):
    settings.TASK_RESULT_RETENTION_DAYS = 7
    old_success, old_failure, recent, queued, running = (answer.enqueue() for _ in range(5))
    _finished(old_success, status="SUCCESSFUL", days_ago=8)
    _finished(old_failure, status="FAILED", days_ago=7.1)
    _finished(recent, status="SUCCESSFUL", days_ago=6.9)
    long_ago = timezone.now() - timedelta(days=30)
    DBTaskResult.objects.filter(pk=queued.id).update(enqueued_at=long_ago)
    DBTaskResult.objects.filter(pk=running.id).update(
        status="RUNNING", enqueued_at=long_ago, started_at=long_ago
    )

    now = {"at": 1000.0}
    housekeeper = Housekeeper(clock=lambda: now["at"])
    housekeeper.tick()
    assert {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)} == {
        recent.id,
        queued.id,
        running.id,
    }

    # Within the hour a result that has come of age stays; after it, it goes.
    _finished(recent, status="SUCCESSFUL", days_ago=8)
    now["at"] += portal_worker.PRUNE_EVERY - 1
    housekeeper.tick()
    assert DBTaskResult.objects.filter(pk=recent.id).exists()
    now["at"] += 1
    housekeeper.tick()
    assert not DBTaskResult.objects.filter(pk=recent.id).exists()
    assert DBTaskResult.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_housekeeping_warns_once_while_the_database_is_gone(caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="outbox.worker")
    down = {"now": True}

    def sweep(**options):
        if down["now"]:
            raise OperationalError("connection refused")
        return 0

    monkeypatch.setattr(portal_worker, "sweep", sweep)
    housekeeper = Housekeeper()
    for _ in range(4):
        housekeeper.tick()
    down["now"] = False
    housekeeper.tick()
    housekeeper.tick()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [m for level, m in messages if level == logging.WARNING][0].startswith(
        "Housekeeping (sweep, prune) failed:"
    )
    assert sum(level == logging.WARNING for level, _ in messages) == 1
    assert sum("works again after" in m for _, m in messages) == 1
