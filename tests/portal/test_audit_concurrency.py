"""Writers appending to the audit trail at the same time still make one unbroken chain."""

import io
import itertools
import threading
import time

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, transaction

from portal.audit import record
from portal.models import GENESIS_HASH, AuditChainHead, AuditEvent

THREADS = 4
EVENTS_EACH = 15


def _retrying_shared_cache_locks(work) -> None:
    """Run work in a transaction; on SQLite, run it again when the test database is locked.

    The SQLite test database lives in memory with a shared cache, where a second writer gets
    "database table is locked" at once instead of queueing on the busy timeout as it does on the
    WAL file the portal runs on. Retrying stands in for that queue; each failed attempt rolls
    back whole, which the chain must survive too. PostgreSQL queues on the row lock: no retry.
    """
    for _attempt in range(10_000):
        try:
            with transaction.atomic():
                work()
            return
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.001)
    raise AssertionError("the test database stayed locked")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_unbroken_chain(django_user_model):
    actor = django_user_model.objects.create_user(username="concurrent")
    # All start together so their transactions really overlap.
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait()
            for n in range(EVENTS_EACH):
                # A transaction per event as a service holds one, with its own work inside.
                def work(n=n):
                    AuditEvent.objects.filter(target_id=f"{worker}-{n}").exists()
                    record(
                        action="portal.room.updated",
                        target=None,
                        target_type="rooms.room",
                        target_id=f"{worker}-{n}",
                        actor=actor,
                    )

                _retrying_shared_cache_locks(work)
        except BaseException as exc:
            errors.append(exc)
        finally:
            # Each thread opened its own connection; a left-over one would block teardown.
            connection.close()

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    events = list(AuditEvent.objects.order_by("pk"))
    assert len(events) == THREADS * EVENTS_EACH
    assert events[0].prev_hash == GENESIS_HASH
    assert all(event.prev_hash == before.hash for before, event in itertools.pairwise(events))
    assert AuditChainHead.objects.get().hash == events[-1].hash
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue() == f"Audit trail intact: {THREADS * EVENTS_EACH} events\n"
