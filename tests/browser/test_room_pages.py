"""The room pages think ahead, in a browser: Duplicate creates nothing until saved, a deleted
room's page stays readable, and Ends follows Starts and the Length picker as the user types."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

import acs_gateway as acs
from identities.services import NewPerson
from portal.models import AuditEvent
from rooms import services
from rooms.models import Room
from rooms.services import ParticipantEntry, room_create
from tests.browser.conftest import screenshot, sign_in, until
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL = "%Y-%m-%dT%H:%M"


def _acs_room_ids() -> set[str]:
    return {room.id for room in acs.get_gateway().list_rooms()}


def _design_review(actor) -> Room:
    start = timezone.now() + timedelta(hours=2)
    room = room_create(
        actor=actor,
        title="Design review",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[
            ParticipantEntry(person=NewPerson(display_name=name, email=email))
            for name, email in [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@x.org")]
        ],
    )
    run_tasks()

    def pushed():
        room.refresh_from_db()
        return room.acs_id

    # With the worker fixture's thread running too, that thread may hold the push: wait for it.
    assert until(pushed), "the original is in ACS before the test starts"
    return room


def _value(page, label: str) -> datetime:
    return datetime.strptime(page.get_by_label(label, exact=True).input_value(), LOCAL)


def test_duplicate_then_cancel_leaves_nothing_in_the_portal_or_in_acs(page, scheduler, worker):
    room = _design_review(scheduler)
    rooms_before, acs_before = set(Room.objects.values_list("pk", flat=True)), _acs_room_ids()
    events_before = AuditEvent.objects.count()
    sign_in(page, scheduler)
    page.goto(f"/rooms/{room.pk}/")

    page.get_by_role("link", name="Duplicate").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Duplicate “Design review”")
    expect(page.get_by_label("Title")).to_have_value("Design review (copy)")
    people = page.locator(".copy-people")
    expect(people).to_contain_text("2 people from “Design review” will be copied")
    expect(people).to_contain_text("Ada Lovelace")
    screenshot(page, "room-duplicate-form")
    page.get_by_role("link", name="Cancel").first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Design review")
    # Give a (wrongly) queued push every chance to reach ACS before looking.
    time.sleep(1)
    assert set(Room.objects.values_list("pk", flat=True)) == rooms_before
    assert not Room.objects.filter(title__endswith="(copy)").exists()
    assert _acs_room_ids() == acs_before
    assert AuditEvent.objects.count() == events_before
    assert page.console_errors == []


def test_a_saved_duplicate_reaches_acs_with_its_people(page, scheduler, worker):
    room = _design_review(scheduler)
    sign_in(page, scheduler)
    page.goto(f"/rooms/{room.pk}/")
    page.get_by_role("link", name="Duplicate").click()

    page.get_by_role("button", name="Create room").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Design review (copy)")
    expect(page.locator("#participant-count")).to_have_text("2")
    copy = Room.objects.get(title="Design review (copy)")
    assert until(lambda: Room.objects.get(pk=copy.pk).acs_id)
    copy.refresh_from_db()
    held = acs.get_gateway().list_participants(copy.acs_id)
    assert sorted(held.values()) == ["Attendee", "Attendee"]
    assert page.console_errors == []


def test_a_deleted_rooms_page_answers_200_and_is_read_only(page, role_admin, worker):
    room = _design_review(role_admin)
    services.room_delete(actor=role_admin, room=room)
    # The worker deletes it in ACS; once ACS confirms, the row goes and the page reads history.
    assert until(lambda: not Room.objects.filter(pk=room.pk).exists())
    sign_in(page, role_admin)

    response = page.goto(f"/rooms/{room.pk}/")

    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Design review")
    main = page.locator("main")
    expect(main).to_contain_text("Deleted")
    expect(main).to_contain_text("by rita.roleadmin")
    expect(page.locator("#participants")).to_contain_text("Ada Lovelace")
    expect(page.locator("#participants")).to_contain_text("Alan Turing")
    expect(page.locator("#history")).to_contain_text("Room deleted")
    expect(page.locator("#acs-answers")).to_contain_text("ACS answered 204")
    screenshot(page, "room-deleted")
    # Read-only: no form, picker or box in the page's content, no action that changes it.
    assert page.locator("main form, main select, main input").count() == 0
    for name in ("Edit", "Delete", "Duplicate", "Extend by 7 days", "Add people"):
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    # A change asked for anyway is refused with the reason.
    refused = page.goto(f"/rooms/{room.pk}/edit/")
    assert refused.status == 410
    expect(page.locator("main")).to_contain_text("so it can no longer be changed")
    page.console_errors.clear()  # the 410 just asked for, on purpose


def test_moving_starts_to_tomorrow_moves_ends_keeping_one_hour(page, scheduler):
    sign_in(page, scheduler)
    page.goto("/rooms/new/")
    start, end = _value(page, "Starts"), _value(page, "Ends")
    assert end - start == timedelta(hours=1)
    expect(page.get_by_label("Length")).to_have_value("60")

    tomorrow = start + timedelta(days=1)
    page.get_by_label("Starts", exact=True).fill(tomorrow.strftime(LOCAL))

    assert _value(page, "Ends") == tomorrow + timedelta(hours=1)
    # The live check saw the moved Ends (its UTC preview is tomorrow's) and does not complain
    # that the room ends before it starts.
    zone = ZoneInfo(page.get_by_label("Time zone").input_value())
    end_utc = (tomorrow + timedelta(hours=1)).replace(tzinfo=zone).astimezone(UTC)
    expect(page.locator("#id_valid_until_utc")).to_have_text(f"= {end_utc:%Y-%m-%d %H:%M} UTC")
    expect(page.locator("#id_duration")).to_have_text("Lasts 1 hour (limit 180 days)")
    expect(page.locator("main")).not_to_contain_text("must end after it starts")
    page.get_by_label("Title").fill("Planning, tomorrow")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Planning, tomorrow")
    room = Room.objects.get()
    assert room.valid_until - room.valid_from == timedelta(hours=1)
    assert page.console_errors == []


def test_picking_two_hours_sets_ends(page, scheduler):
    sign_in(page, scheduler)
    page.goto("/rooms/new/")
    start = _value(page, "Starts")

    page.get_by_label("Length").select_option("120")

    assert _value(page, "Ends") == start + timedelta(hours=2)
    expect(page.locator("#id_duration")).to_have_text("Lasts 2 hours (limit 180 days)")
    # Typing an end by hand makes the length Custom; Starts then moves Ends by as much.
    page.get_by_label("Ends", exact=True).fill((start + timedelta(minutes=95)).strftime(LOCAL))
    expect(page.get_by_label("Length")).to_have_value("custom")
    page.get_by_label("Starts", exact=True).fill((start + timedelta(hours=1)).strftime(LOCAL))
    assert _value(page, "Ends") == start + timedelta(minutes=155)
    screenshot(page, "room-form-length")
    assert page.console_errors == []
