"""`manage.py run_worker`: the portal's task worker (see outbox/worker.py and docs/operations.md).

django-tasks-db's own `db_worker` stays as it is (handy for `--batch` drains); this command takes
the same options and runs the same Worker, inside a loop that survives a lost database, beside a
thread that runs the outbox's sweep (retries, lost tasks, expired leases) and prunes old task
results.
"""

import math
import os
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker

from outbox.worker import BACKOFF_CAP, Housekeeper, PortalWorker, ResilientWorker


def positive_seconds(value: str) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ArgumentTypeError("Must be a number of seconds greater than zero")
    return seconds


class Command(db_worker.Command):
    help = (
        "Run the task worker: django-tasks-db's worker, resumed by itself after a lost database "
        "or any other error, plus housekeeping: enqueue due ACS pushes every 2 s and "
        "prune task results older than TASK_RESULT_RETENTION_DAYS every hour."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--max-backoff",
            default=BACKOFF_CAP,
            type=positive_seconds,
            help="Longest wait, in seconds, between tries while the database is gone "
            "(default: %(default)r)",
        )

    def handle(
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str,
        exclude_queues: str,
        **options: Any,
    ) -> None:
        # Read from options: db_worker's handle() takes no such keyword (and mypy holds to it).
        max_backoff = float(options.get("max_backoff", BACKOFF_CAP))
        # As django-tasks-db's db_worker.Command.handle, with the worker run by run() below.
        self.configure_logging(verbosity)
        queue_names = queue_name.split(",")
        excluded_queue_names = exclude_queues.split(",") if exclude_queues else []
        if excluded_queue_names and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = PortalWorker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded_queue_names,
        )

        def run() -> None:
            # A --batch drain ends when the queue is empty: no housekeeping for it.
            housekeeper = (
                None
                if batch
                else Housekeeper(backend_name=backend_name, worker_id=worker.worker_id)
            )
            if housekeeper:
                housekeeper.start()
            try:
                ResilientWorker(worker, max_backoff=max_backoff).run()
            finally:
                if housekeeper:
                    housekeeper.stop()

        if reload and not batch:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                # Only the reloaded child runs the worker and handles its signals.
                worker.configure_signals()
            run_with_reloader(run)
        else:
            worker.configure_signals()
            run()
