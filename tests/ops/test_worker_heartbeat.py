"""Task workers stamp a heartbeat; the health report is red when none beat for a minute.

The end-to-end test runs real `manage.py run_worker` processes on the test database.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from outbox import heartbeat
from outbox.models import WorkerHeartbeat
from outbox.worker import Housekeeper

# Housekeeper.tick() closes its connections as run_worker's thread does: transactional tests.
pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parents[2]
# Guards against a worker that never starts; not a performance expectation.
START_DEADLINE = 60


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_housekeeper_beats_on_its_first_round_then_every_ten_seconds():
    clock = Clock()
    housekeeper = Housekeeper(worker_id="w-1", clock=clock)
    housekeeper.tick()
    first = WorkerHeartbeat.objects.get(worker_id="w-1")
    assert (first.pid, first.host) == (os.getpid(), os.uname().nodename[:255])

    clock.now += 5
    housekeeper.tick()
    assert WorkerHeartbeat.objects.get().seen_at == first.seen_at

    clock.now += 5
    housekeeper.tick()
    assert WorkerHeartbeat.objects.get().seen_at > first.seen_at


def test_a_clean_stop_removes_the_workers_heartbeat():
    housekeeper = Housekeeper(worker_id="w-1")
    housekeeper.tick()
    Housekeeper(worker_id="w-2").tick()
    housekeeper.stop()
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["w-2"]


def test_rows_of_workers_gone_for_a_day_are_forgotten():
    heartbeat.beat("killed")
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(days=1, seconds=1))
    heartbeat.beat("alive")
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["alive"]


# --------------------------------------------------------------------------- end to end


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
    }
    args = [sys.executable, "manage.py", "run_worker", "--interval", "0.2"]
    args += ["--no-startup-delay", "--no-reload"]
    with log.open("a") as out:
        return subprocess.Popen(args, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for_a_beat(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while not WorkerHeartbeat.objects.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"run_worker never beat:\n{log.read_text()}")
        time.sleep(0.2)


def _workers_verdict(client) -> str:
    verdicts = client.get("/health/?format=json").json()
    return next(v for name, v in verdicts.items() if name.startswith("TaskWorkers"))


def test_the_report_follows_a_real_worker_stopping_dying_and_coming_back(
    client, emulator, tmp_path
):
    log = tmp_path / "worker.log"
    assert _workers_verdict(client).startswith("Unavailable: no task worker is running")

    worker = _start_worker(log)
    try:
        _wait_for_a_beat(worker, log)
        assert _workers_verdict(client) == "OK"

        # Stopped by systemd (SIGTERM): it says goodbye, red at once.
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert _workers_verdict(client).startswith("Unavailable: no task worker is running")

        # Back: green again.
        worker = _start_worker(log)
        _wait_for_a_beat(worker, log)
        assert _workers_verdict(client) == "OK"

        # Killed (SIGKILL, OOM): its last beat stands for a minute, then it is red.
        worker.kill()
        worker.wait(timeout=30)
        assert _workers_verdict(client) == "OK"
        WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=61))
        assert _workers_verdict(client).startswith("Unavailable: no task worker seen for 6")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
