"""django-tasks-db's worker, plus a sweeper that re-enqueues pushes whose task was lost."""

import logging
import threading

from django.db import close_old_connections, connection
from django_tasks_db.management.commands import db_worker

from portal.sync import sweep

log = logging.getLogger(__name__)
SWEEP_EVERY = 10.0


def _sweep_forever(stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY):
        try:
            close_old_connections()
            if swept := sweep():
                log.info("Re-enqueued %d overdue pushes", swept)
        except Exception:
            # The database may be briefly unavailable; the next round tries again.
            log.exception("Sweeping overdue pushes failed")
        finally:
            connection.close()


class Command(db_worker.Command):
    help = db_worker.Command.help + " Also re-enqueues overdue ACS pushes every 10 seconds."

    def handle(self, *args, **options):
        stop = threading.Event()
        sweeper = threading.Thread(target=_sweep_forever, args=(stop,), daemon=True)
        sweeper.start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
