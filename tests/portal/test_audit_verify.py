"""audit_verify finds every event altered or removed behind the ORM's back, through SQL."""

import io

import pgtrigger
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from portal.audit import record
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _events(count: int) -> list[AuditEvent]:
    return [
        record(
            action="portal.room.created",
            target=None,
            target_type="rooms.room",
            target_id=str(n),
            changes={"title": {"before": None, "after": f"Room {n}"}},
        )
        for n in range(count)
    ]


def _sql(statement: str, params: list) -> None:
    """Tamper as someone with the database's owner rights would: past PostgreSQL's trigger."""
    with pgtrigger.ignore("portal.AuditEvent:audit_append_only"), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _verify(*args: str) -> str:
    out = io.StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=out)
    return out.getvalue()


def _verify_fails(*args: str) -> str:
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("audit_verify", *args, stdout=out, stderr=out)
    assert exit_.value.code == 1
    return out.getvalue()


def test_it_reports_an_intact_trail_with_its_length():
    _events(3)

    assert _verify() == "Audit trail intact: 3 events\n"


def test_it_reports_an_empty_trail_as_intact():
    assert _verify() == "Audit trail intact: 0 events\n"


def test_it_walks_the_trail_in_chunks():
    _events(7)

    assert _verify("--chunk-size", "2") == "Audit trail intact: 7 events\n"


def test_it_finds_an_event_whose_action_was_changed_in_sql():
    events = _events(4)

    _sql("UPDATE portal_auditevent SET action = %s WHERE id = %s", ["x.y.z", events[2].pk])

    report = _verify_fails()
    assert f"broken at event #{events[2].pk} (" in report
    assert "x.y.z" in report
    assert "content was altered" in report


def test_it_finds_changes_that_were_edited_in_sql():
    events = _events(3)

    _sql(
        "UPDATE portal_auditevent SET changes = %s WHERE id = %s",
        ['{"title": {"before": null, "after": "Forged"}}', events[1].pk],
    )

    report = _verify_fails()
    assert f"broken at event #{events[1].pk} (" in report
    assert "content was altered" in report


def test_it_finds_an_event_that_was_altered_and_rehashed_by_its_successor():
    events = _events(3)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.action = "portal.room.deleted"

    _sql(
        "UPDATE portal_auditevent SET action = %s, hash = %s WHERE id = %s",
        [forged.action, forged.compute_hash(), forged.pk],
    )

    report = _verify_fails()
    assert f"broken at event #{events[2].pk} (" in report
    assert f"does not match the hash of the event before it (#{events[1].pk})" in report


def test_it_finds_an_event_removed_from_the_middle():
    events = _events(4)

    _sql("DELETE FROM portal_auditevent WHERE id = %s", [events[1].pk])

    report = _verify_fails()
    assert f"broken at event #{events[2].pk} (" in report
    assert f"(#{events[0].pk}): an event between them was removed" in report


def test_it_finds_the_first_event_removed():
    events = _events(3)

    _sql("DELETE FROM portal_auditevent WHERE id = %s", [events[0].pk])

    report = _verify_fails()
    assert f"broken at event #{events[1].pk} (" in report
    assert "before it were removed" in report


def test_it_finds_the_last_events_removed():
    events = _events(4)

    _sql("DELETE FROM portal_auditevent WHERE id >= %s", [events[2].pk])

    report = _verify_fails()
    assert f"broken after event #{events[1].pk} (" in report
    assert f"up to #{events[3].pk}, were removed" in report


def test_it_finds_every_event_removed():
    events = _events(2)

    _sql("DELETE FROM portal_auditevent", [])

    assert f"every event up to #{events[1].pk} was removed" in _verify_fails()


def test_it_starts_at_since_id_and_trusts_the_events_before():
    events = _events(5)
    _sql("UPDATE portal_auditevent SET action = %s WHERE id = %s", ["x.y.z", events[1].pk])

    assert _verify("--since-id", str(events[2].pk)) == "Audit trail intact: 3 events\n"
    assert f"broken at event #{events[1].pk} (" in _verify_fails("--since-id", str(events[0].pk))


def test_it_checks_the_link_into_since_id():
    events = _events(4)

    _sql("DELETE FROM portal_auditevent WHERE id = %s", [events[1].pk])

    report = _verify_fails("--since-id", str(events[2].pk))
    assert f"broken at event #{events[2].pk} (" in report


def test_it_leaves_events_appended_after_it_read_the_chain_head_for_the_next_run():
    events = _events(2)
    # An event that never went through the head (as if committed after verify read it).
    _sql("UPDATE portal_auditchainhead SET last_event_id = %s, hash = %s, length = 1",
         [events[0].pk, events[0].hash])  # fmt: skip

    assert _verify() == "Audit trail intact: 1 events\n"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE portal_auditevent SET action = 'x.y.z' WHERE id = %s",
        "DELETE FROM portal_auditevent WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_raw_sql_cannot_rewrite_history_unseen(statement):
    events = _events(3)
    if connection.vendor == "postgresql":
        # The database itself refuses: history cannot be rewritten even past the ORM.
        refused = pytest.raises(DatabaseError, match="Cannot update or delete rows")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [events[1].pk])
        assert AuditEvent.objects.filter(pk=events[1].pk, action=events[1].action).exists()
        assert _verify().startswith("Audit trail intact")
    else:
        # SQLite has no such guard: the hash chain shows the change instead.
        with connection.cursor() as cursor:
            cursor.execute(statement, [events[1].pk])
        assert "Audit trail broken" in _verify_fails()
