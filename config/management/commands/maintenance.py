"""`manage.py maintenance`: the chores no other process does, once or every N seconds.

Today one chore: delete expired sessions (Django's `clearsessions`; the session table grows
with every sign-in otherwise). Finished task results need none: run_worker prunes them hourly
(outbox/worker.py). systemd runs this once a day from a timer (deploy/systemd/); the Procfile,
which has no timer, runs it as a loop (`--every 86400`).
"""

import logging
import time
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

log = logging.getLogger(__name__)


def seconds(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ArgumentTypeError("Must be 0 (run once) or a number of seconds")
    return number


class Command(BaseCommand):
    help = (
        "Run the portal's periodic chores (delete expired sessions) once, or every --every "
        "seconds until stopped."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--every",
            type=seconds,
            default=0,
            metavar="SECONDS",
            help="Run again after this many seconds, until stopped (default: once)",
        )

    def handle(self, *, every: int, **options: Any) -> None:
        while True:
            try:
                call_command("clearsessions")
                # Logged, not printed: a line of the process's JSON log like every other.
                log.info("Deleted the expired sessions")
            except Exception:
                if not every:
                    raise
                # A loop must outlive a database outage: honcho stops every process when one
                # exits.
                log.exception("Maintenance failed; trying again in %d s", every)
            finally:
                # A day-long sleep must not hold a connection the server may drop meanwhile.
                connections.close_all()
            if not every:
                return
            time.sleep(every)
