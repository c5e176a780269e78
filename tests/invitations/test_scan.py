"""The scan of the audit trail: cheap when nothing happened, never reading an event twice."""

import pytest

from invitations.models import AuditCursor
from invitations.services import scan, scan_all
from portal import audit
from portal.models import AuditEvent
from rooms import services

pytestmark = pytest.mark.django_db


def _last_event() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()


def test_a_scan_with_nothing_new_reads_two_rows_and_writes_nothing(
    scheduler, django_assert_num_queries
):
    services.room_create(actor=scheduler, title="Quiet")
    scan_all()
    with django_assert_num_queries(2):
        assert scan() == 0


def test_events_it_does_not_watch_move_the_cursor_past_them(scheduler):
    room = services.room_create(actor=scheduler, title="Busy")
    scan_all()
    for _ in range(3):
        audit.record(action="acs.room.pushed", target=room, room_id=room.pk)
    assert scan() == 0
    assert AuditCursor.objects.get().last_event_id == _last_event()


def test_a_full_batch_leaves_the_rest_for_the_next_one(scheduler):
    for n in range(3):
        services.room_create(actor=scheduler, title=f"Room {n}")
    assert scan(limit=2) == 2
    assert scan(limit=2) == 1
    assert scan(limit=2) == 0
    assert AuditCursor.objects.get().last_event_id == _last_event()
