"""Writers appending to the audit trail at the same time still make one unbroken chain."""

import io
import itertools
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from portal.audit import record
from portal.models import GENESIS_HASH, AuditChainHead, AuditEvent

THREADS = 4
EVENTS_EACH = 15


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

                # SQLite queues writers on its busy timeout (a file test database, as in
                # production); PostgreSQL queues them on the chain head's row lock.
                with transaction.atomic():
                    work()
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
