"""The task worker three ways: drained here, in a thread, or as `manage.py run_worker`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from django.db import connection
from django_tasks_db.management.commands.db_worker import Worker

BASE_DIR = Path(__file__).resolve().parent.parent


def _worker(*, batch: bool, interval: float) -> Worker:
    return Worker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"bench-{uuid.uuid4().hex[:12]}",
        excluded_queue_names=[],
    )


def run_tasks() -> int:
    """Run every task that is due now, the way db_worker does, then return how many ran."""
    worker = _worker(batch=True, interval=0)
    worker.run()
    return worker._run_tasks


class ThreadWorker:
    """db_worker's loop in a thread of this process (it shares the in-memory emulator)."""

    def __init__(self, interval: float = 0.05):
        self.worker = _worker(batch=False, interval=interval)
        self.thread = threading.Thread(target=self._run, name="bench-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        finally:
            connection.close()

    def __enter__(self) -> ThreadWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.worker.running = False
        self.thread.join(timeout=60)


class ProcessWorker:
    """`manage.py run_worker` (the portal's: worker plus sweeper) on the benchmark's database.

    The subprocess reads benchmarks.settings with this process's BENCH_* variables, so it opens
    the same database; `acs_state` names the emulator state file both processes share.
    """

    def __init__(self, *, acs_state: Path, log: Path, interval: float = 0.2):
        self.log = log
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "BENCH_ACS_STATE": str(acs_state),
        }
        self.args = [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "run_worker",
            "--interval",
            str(interval),
            "--no-startup-delay",
            "--no-reload",
        ]
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ProcessWorker:
        self.start()
        self.wait_started()
        return self

    def start(self) -> None:
        """Start the process without waiting for it (several start side by side)."""
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=BASE_DIR, stdout=self._out, stderr=subprocess.STDOUT
        )

    def wait_started(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        # db_worker logs this line once Django is set up and the loop is about to start.
        while "Starting worker" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"db_worker did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()
