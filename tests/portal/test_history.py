"""The history page filters and pages the audit trail; its CSV export streams it safely."""

import contextlib
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal import audit, csv_export
from portal.forms import TO_BEFORE_FROM
from portal.models import AuditEvent, allow_append
from rooms import services
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

URL = reverse("history")
EXPORT = reverse("history_export")


def _event(
    action: str = "portal.room.updated",
    *,
    actor=None,
    at: datetime | None = None,
    room_id: int | None = None,
    label: str = "Board meeting",
    acs_outcome: dict | None = None,
    changes: dict | None = None,
) -> AuditEvent:
    """One event as record() writes it, optionally stamped at a chosen time."""
    clock = mock.patch("portal.audit.timezone.now", return_value=at) if at else None
    with clock or contextlib.nullcontext():
        return audit.record(
            action=action,
            actor=actor,
            target=None,
            target_type="rooms.room",
            target_id=str(room_id or 0),
            target_label=label,
            room_id=room_id,
            acs_outcome=acs_outcome,
            changes=changes,
        )


def _many(count: int) -> None:
    """Many events at once (bulk, past record(): these tests do not need the hash chain)."""
    now = timezone.now()
    events = [
        AuditEvent(
            at=now - timedelta(seconds=count - n),
            actor_label="sam.scheduler",
            action="portal.room.updated",
            target_type="rooms.room",
            target_id=str(n),
            target_label=f"Room {n}",
            room_id=n,
            prev_hash=uuid.uuid4().hex,
            hash=uuid.uuid4().hex,
        )
        for n in range(count)
    ]
    with allow_append():
        AuditEvent.objects.bulk_create(events, batch_size=500)


def _login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def _shown(response) -> list[int]:
    """The ids of the events the page lists, in order."""
    page = response.context["page"]
    return [event.pk for event in page.events] if page else []


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


# ------------------------------------------------------------------------------------ access


def test_it_shows_every_event_newest_first_to_an_auditor(client, auditor, scheduler):
    first = _event("portal.room.created", actor=scheduler, label="Planning")
    second = _event("portal.room.updated", actor=scheduler, label="Planning")
    response = _login(client, auditor).get(URL)
    assert response.status_code == 200
    assert _shown(response) == [second.pk, first.pk]
    assert "Room updated" in response.text
    assert "by sam.scheduler" in response.text


def test_it_lets_a_scheduler_read_the_history_and_export_it(client, scheduler):
    _event(actor=scheduler)
    _login(client, scheduler)
    assert client.get(URL).status_code == 200
    assert client.get(EXPORT).status_code == 200


def test_it_offers_an_auditor_no_control_that_changes_anything(client, auditor):
    _event()
    html = _login(client, auditor).get(URL).text
    section = html[html.index('id="history"') :]
    assert 'method="post"' not in section.lower()
    assert "hx-post" not in section
    assert 'method="get"' in section
    assert "Export CSV" in section


@pytest.mark.parametrize("url", [URL, EXPORT])
def test_it_refuses_a_staff_user_without_view_auditevent_naming_the_permission(
    client, django_user_model, url
):
    plain = django_user_model.objects.create_user("pat.plain", password=PASSWORD, is_staff=True)
    response = _login(client, plain).get(url)
    assert response.status_code == 403
    assert "portal.view_auditevent" in response.text


@pytest.mark.parametrize("url", [URL, EXPORT])
def test_it_answers_post_with_405(client, auditor, url):
    assert _login(client, auditor).post(url).status_code == 405


# ----------------------------------------------------------------------------------- filters


def test_it_filters_by_actor(client, auditor, scheduler, role_admin):
    mine = _event(actor=scheduler)
    _event(actor=role_admin)
    worker = _event("acs.room.updated")
    _login(client, auditor)
    assert _shown(client.get(URL, {"actor": "sam.scheduler"})) == [mine.pk]
    assert _shown(client.get(URL, {"actor": "-"})) == [worker.pk]
    page = client.get(URL).text
    assert '<option value="sam.scheduler">sam.scheduler</option>' in page
    assert '<option value="-">The sync worker</option>' in page
    # The events the filter finds are named as it names them, not as recorded ("system").
    assert "by the sync worker" in page
    assert "by system" not in page


def test_it_filters_by_room_id_and_by_text_in_the_target(client, auditor):
    board = _event(room_id=7, label="Board meeting")
    _event(room_id=8, label="Standup")
    other = _event(room_id=9, label="Quarterly board review")
    _login(client, auditor)
    assert _shown(client.get(URL, {"room": "7"})) == [board.pk]
    assert _shown(client.get(URL, {"target": "BOARD"})) == [other.pk, board.pk]
    assert _shown(client.get(URL, {"room": "9", "target": "board"})) == [other.pk]


def test_it_filters_by_action_exactly_or_by_prefix(client, auditor):
    created = _event("portal.room.created")
    pushed = _event("acs.room.created", acs_outcome={"operation": "create_room", "status": 201})
    failed = _event("acs.room.updated_failed", acs_outcome={"status": 503, "error": "down"})
    identity = _event("portal.identity.created")
    _login(client, auditor)
    assert _shown(client.get(URL, {"action": "portal.room.created"})) == [created.pk]
    assert _shown(client.get(URL, {"action": "acs."})) == [failed.pk, pushed.pk]
    assert _shown(client.get(URL, {"action": "portal.identity."})) == [identity.pk]
    assert _shown(client.get(URL, {"failures": "on"})) == [failed.pk]
    assert _shown(client.get(URL, {"action": "acs.", "failures": "on"})) == [failed.pk]


def test_it_groups_the_actions_by_area_with_an_all_choice_each(client, auditor):
    _event("portal.room.created")
    _event("acs.room.updated_failed")
    html = _login(client, auditor).get(URL).text
    assert '<optgroup label="Rooms">' in html
    assert '<option value="portal.room.">All room changes</option>' in html
    assert '<optgroup label="ACS answers">' in html
    assert '<option value="acs.">All ACS answers</option>' in html
    assert '<option value="acs.room.updated_failed">ACS: room updated (failed)</option>' in html


def test_it_reads_the_date_range_as_whole_days_in_the_users_zone(client, auditor):
    # In New York (UTC-5 in February) 10 February runs from 05:00 UTC to 05:00 UTC next day.
    utc = [
        datetime(2026, 2, 10, 4, 59, tzinfo=UTC),  # 9 February, 23:59 in New York
        datetime(2026, 2, 10, 5, 0, tzinfo=UTC),  # 10 February, 00:00
        datetime(2026, 2, 11, 4, 59, tzinfo=UTC),  # 10 February, 23:59
        datetime(2026, 2, 11, 5, 0, tzinfo=UTC),  # 11 February, 00:00
    ]
    events = [_event(at=at) for at in utc]
    _login(client, auditor)
    client.cookies["portal_tz"] = "America/New_York"
    response = client.get(URL, {"date_from": "2026-02-10", "date_to": "2026-02-10"})
    assert _shown(response) == [events[2].pk, events[1].pk]
    assert _shown(client.get(URL, {"date_from": "2026-02-11"})) == [events[3].pk]
    assert _shown(client.get(URL, {"date_to": "2026-02-09"})) == [events[0].pk]
    assert "EST" in response.text  # times are shown in the user's zone


def test_it_explains_a_to_date_before_the_from_date_and_lists_nothing(client, auditor):
    _event()
    response = _login(client, auditor).get(
        URL, {"date_from": "2026-03-10", "date_to": "2026-03-09"}
    )
    assert response.status_code == 200
    assert response.context["page"] is None
    assert response.context["form"].errors == {"date_to": [TO_BEFORE_FROM]}
    html = response.text
    field = html[html.index('for="id_date_to"') :]
    assert field.index("“to” date is before") < field.index("</div>")


def test_it_puts_an_invalid_date_error_beside_its_field(client, auditor):
    response = _login(client, auditor).get(URL, {"date_from": "2026-13-45"})
    assert response.status_code == 200
    assert response.context["form"].errors["date_from"] == ["Enter a valid date."]
    assert '<div class="field has-error">\n      <label for="id_date_from">' in response.text


def test_it_refuses_an_action_that_is_not_an_action_code(client, auditor):
    response = _login(client, auditor).get(URL, {"action": "'; drop table"})
    assert "action" in response.context["form"].errors


def test_a_bad_export_filter_sends_the_user_back_to_the_page_with_the_error(client, auditor):
    response = _login(client, auditor).get(
        EXPORT, {"date_from": "2026-03-10", "date_to": "2026-03-09"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(URL + "?date_from=2026-03-10")


# ------------------------------------------------------------------------------------ paging


def test_it_pages_fifty_events_at_a_time_with_newer_and_older_links(client, auditor):
    _many(120)
    _login(client, auditor)
    first = client.get(URL)
    ids = [e.pk for e in AuditEvent.objects.order_by("-pk")]
    assert _shown(first) == ids[:50]
    assert first.context["page"].newer is None
    older = first.context["page"].older
    assert f"?before={older}" in first.text

    second = client.get(URL, {"before": older})
    assert _shown(second) == ids[50:100]
    assert f"?after={ids[50]}" in second.text

    third = client.get(URL, {"before": second.context["page"].older})
    assert _shown(third) == ids[100:]
    assert third.context["page"].older is None

    back = client.get(URL, {"after": second.context["page"].newer})
    assert _shown(back) == ids[:50]
    assert back.context["page"].newer is None
    assert back.context["page"].older == older


def test_paging_keeps_the_filters(client, auditor):
    _many(60)
    response = _login(client, auditor).get(URL, {"target": "room"})
    older = response.context["page"].older
    assert f"?target=room&amp;before={older}" in response.text


def test_it_costs_the_same_queries_for_ten_events_as_for_a_thousand(client, auditor):
    _many(10)
    _login(client, auditor)
    with CaptureQueriesContext(connection) as few:
        client.get(URL, {"before": AuditEvent.objects.order_by("-pk")[2].pk})
    _many(990)
    with CaptureQueriesContext(connection) as many:
        response = client.get(URL, {"before": AuditEvent.objects.order_by("-pk")[2].pk})
    assert len(response.context["page"].events) == 50
    assert len(many) == len(few)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def test_htmx_gets_only_the_filters_and_events(client, auditor):
    _event(label="Planning")
    response = _login(client, auditor).get(URL, {"target": "plan"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section id="history"')
    assert "Planning" in response.text


def test_the_filter_form_works_with_and_without_javascript(client, auditor):
    html = _login(client, auditor).get(URL).text
    assert f'method="get" action="{URL}" hx-get="{URL}"' in html
    assert 'hx-push-url="true"' in html
    assert '<button type="submit"' in html


# ------------------------------------------------------------------------------------ export


def test_the_export_link_keeps_the_current_filters(client, auditor):
    _event(room_id=3)
    html = _login(client, auditor).get(URL, {"room": "3", "action": "acs."}).text
    assert f'href="{EXPORT}?room=3&amp;action=acs."' in html


def test_the_export_is_a_streamed_attachment_with_a_header_row(client, auditor, scheduler):
    _event(
        "acs.room.updated_failed",
        room_id=4,
        label="Board",
        changes={"title": {"before": "A", "after": "B"}},
        acs_outcome={"operation": "update_room", "status": 503, "error": "down"},
    )
    _login(client, auditor)
    client.cookies["portal_tz"] = "Europe/Paris"
    response = client.get(EXPORT)
    assert response.streaming
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    day = timezone.localtime(timezone.now()).date()
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert "audit-history-" in response.headers["Content-Disposition"]
    assert str(day.year) in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert rows[0][:3] == ["Time (UTC)", "Local time (Europe/Paris)", "Actor"]
    assert rows[0] == csv_export.header("Europe/Paris")
    event = AuditEvent.objects.get()
    utc_time, local_time, *rest = rows[1]
    assert utc_time == event.at.astimezone(UTC).isoformat(timespec="seconds")
    assert local_time.endswith(("+01:00", "+02:00"))
    assert rest == [
        "the sync worker",
        "acs.room.updated_failed",
        "rooms.room",
        "4",
        "Board",
        "4",
        '{"title":{"after":"B","before":"A"}}',
        "update_room",
        "503",
        "down",
        "",
    ]


def test_the_export_header_names_each_column_once_for_a_user_in_utc(client, auditor):
    # It read "Time (UTC)" twice: the local time column is named after the zone, here UTC too.
    _event()
    _login(client, auditor)
    client.cookies["portal_tz"] = "UTC"
    header = _csv(client.get(EXPORT))[0]
    assert header[:2] == ["Time (UTC)", "Local time (UTC)"]
    assert len(set(header)) == len(header)


def test_the_export_names_the_user_or_the_sync_worker_as_the_actor(client, auditor, scheduler):
    _event(actor=scheduler)
    _event("acs.room.updated")
    _login(client, auditor)
    rows = _csv(client.get(EXPORT))
    assert [row[2] for row in rows[1:]] == ["the sync worker", "sam.scheduler"]


def test_the_export_applies_the_filters(client, auditor, scheduler):
    _event(actor=scheduler, label="Mine")
    _event(label="Worker's")
    rows = _csv(_login(client, auditor).get(EXPORT, {"actor": "sam.scheduler"}))
    assert [row[6] for row in rows[1:]] == ["Mine"]


def test_the_export_neutralises_cells_a_spreadsheet_would_run(client, auditor, scheduler):
    for title in ('=HYPERLINK("http://evil","x")', "@SUM(1)", "-2+3", "+1", "Plain"):
        services.room_create(actor=scheduler, title=title)
    rows = _csv(_login(client, auditor).get(EXPORT, {"action": "portal.room.created"}))
    labels = [row[6] for row in rows[1:]]
    assert labels == [
        "Plain",
        "'+1",
        "'-2+3",
        "'@SUM(1)",
        '\'=HYPERLINK("http://evil","x")',
    ]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("=1+1", "'=1+1"), ("a=1", "a=1"), ("", "")],
)
def test_neutralise_prefixes_only_cells_that_start_like_a_formula(cell, safe):
    assert csv_export.neutralise(cell) == safe


def test_the_export_reads_nothing_until_the_body_is_read(client, auditor):
    _event()
    _login(client, auditor)
    with CaptureQueriesContext(connection) as answering:
        response = client.get(EXPORT)
    assert not any("portal_auditevent" in q["sql"] for q in answering.captured_queries)
    with CaptureQueriesContext(connection) as reading:
        rows = _csv(response)
    assert len(rows) == 2
    assert any("portal_auditevent" in q["sql"] for q in reading.captured_queries)


def test_the_export_fetches_a_long_trail_in_chunks(client, auditor):
    from django.db.models.sql import compiler

    _many(5000)
    chunks: list[int] = []
    original = compiler.cursor_iter

    def counting(*args, **kwargs):
        for rows in original(*args, **kwargs):
            chunks.append(len(rows))
            yield rows

    _login(client, auditor)
    response = client.get(EXPORT)
    with mock.patch.object(compiler, "cursor_iter", counting):
        rows = _csv(response)
    assert len(rows) == 5001
    assert len(chunks) >= 3
    assert max(chunks) <= csv_export.CHUNK_SIZE


def test_the_filter_choices_list_each_actor_and_action_once_in_order(db, scheduler, role_admin):
    from portal.selectors import history_actions, history_actor_labels

    for actor in (role_admin, scheduler, role_admin, None, scheduler):
        audit.record(
            action="portal.room.updated",
            actor=actor,
            target=None,
            target_type="room",
            target_id="1",
        )
    audit.record(
        action="acs.room.created", actor=None, target=None, target_type="room", target_id="1"
    )
    labels = sorted({role_admin.get_username(), scheduler.get_username()})
    assert history_actor_labels() == labels
    assert history_actions() == ["acs.room.created", "portal.room.updated"]
    # A deleted user's events still name them, and so does the filter.
    scheduler.delete()
    assert history_actor_labels() == labels


# ---------------------------------------------------------------------- repeated failures fold


def _failure(room_id=4, *, error="ACS is down", status=503, action="acs.room.updated_failed"):
    return _event(
        action,
        room_id=room_id,
        label=f"Room {room_id}",
        acs_outcome={"operation": "update_room", "status": status, "error": error},
    )


def test_repeated_identical_failures_of_one_room_show_as_one_line_with_a_count(client, auditor):
    start = timezone.now() - timedelta(minutes=3)
    for n in range(4):
        with mock.patch(
            "portal.audit.timezone.now", return_value=start + timedelta(seconds=50 * n)
        ):
            last = _failure()
    response = _login(client, auditor).get(URL)
    lines = response.context["lines"]
    assert [line.pk for line in lines] == [last.pk]
    assert lines[0].fold_count == 4
    assert lines[0].fold_first_at == start
    html = response.text
    assert "ACS: room updated (failed) ×4" in html
    assert "4 times, last at" in html
    assert html.count("ACS is down") == 1
    # The page still counts every event it holds, and says why there are fewer lines.
    assert "4 events on this page; repeated failures are shown once, with a count." in html
    # Nothing was rewritten: the trail keeps every failure, chained.
    assert AuditEvent.objects.count() == 4


def test_other_rooms_events_in_between_do_not_break_a_run(client, auditor):
    first = _failure(4)
    other = _failure(5)
    second = _failure(4)
    lines = _login(client, auditor).get(URL).context["lines"]
    assert [(line.pk, line.fold_count) for line in lines] == [(second.pk, 2), (other.pk, 1)]
    assert first.pk not in [line.pk for line in lines]


def test_a_different_error_or_a_change_in_between_starts_a_new_line(client, auditor, scheduler):
    _failure(error="ACS is down")
    _failure(error="ACS is down")
    _event("portal.room.updated", actor=scheduler, room_id=4)
    _failure(error="ACS is down")
    _failure(error="Throttled", status=429)
    lines = _login(client, auditor).get(URL).context["lines"]
    assert [line.fold_count for line in lines] == [1, 1, 1, 2]


def test_the_room_history_folds_repeated_failures_too(client, auditor, scheduler):
    from tests.rooms.factories import RoomFactory

    room = RoomFactory(owner=scheduler)
    for _ in range(3):
        _failure(room.pk)
    html = _login(client, auditor).get(reverse("rooms:detail", args=[room.pk])).text
    assert "ACS: room updated (failed) ×3" in html
    assert html.count("ACS is down") == 1


def test_the_dashboard_folds_repeated_failures_and_still_lists_ten_lines(client, auditor):
    for n in range(12):
        _failure(100 + n)
        _failure(100 + n)
    response = _login(client, auditor).get(reverse("dashboard"))
    events = response.context["events"]
    assert len(events) == 10
    assert all(event.fold_count == 2 for event in events)
