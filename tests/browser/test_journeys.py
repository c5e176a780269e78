"""What staff do in a browser, end to end: Chromium against the live portal and the emulator."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from identities.services import NewPerson
from portal.models import AuditEvent
from rooms.models import Participant, Role, Room
from rooms.services import ParticipantEntry, room_create
from tests.browser.conftest import acs_roles, screenshot, sign_in, until
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def _room_with_people(actor, *names: str) -> Room:
    start = timezone.now() + timedelta(hours=1)
    room = room_create(
        actor=actor,
        title="Design review",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[
            ParticipantEntry(
                person=NewPerson(display_name=name, email=f"{name.split()[0].lower()}@example.com")
            )
            for name in names
        ],
    )
    run_tasks()
    return Room.objects.get(pk=room.pk)


def _post_forms_in_main(page) -> int:
    return page.locator("main form[method=post]").count()


def test_a_scheduler_creates_a_room_with_two_people_and_sees_it_synced(page, scheduler, worker):
    sign_in(page, scheduler)
    page.get_by_role("link", name="Rooms", exact=True).click()
    page.get_by_role("link", name="New room").click()
    screenshot(page, "room-form")
    page.get_by_label("Title").fill("Design review")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Design review")

    page.get_by_role("link", name="Add people").first.click()
    for n, (name, email) in enumerate(
        [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com")], start=1
    ):
        page.get_by_label(f"Name of new person {n}").fill(name)
        page.get_by_label(f"E-mail of new person {n}").fill(email)
    screenshot(page, "add-people")
    page.get_by_role("button", name="Add people").click()

    expect(page.locator("#participant-count")).to_have_text("2")
    expect(page.locator(".sync-status .badge")).to_have_text("In sync with ACS", timeout=20_000)
    screenshot(page, "room-page")
    room = Room.objects.get(title="Design review")
    assert sorted(acs_roles(room).values()) == ["Attendee", "Attendee"]
    assert page.console_errors == []


def test_a_role_admin_makes_a_participant_presenter_in_the_table(page, role_admin, worker):
    room = _room_with_people(role_admin, "Ada Lovelace", "Alan Turing")
    ada = Participant.objects.get(room=room, identity__display_name="Ada Lovelace")
    sign_in(page, role_admin)
    page.goto(f"/rooms/{room.pk}/")
    page.get_by_label("Role of Ada Lovelace").select_option("Presenter")
    row = page.locator("tr", has=page.get_by_label("Role of Ada Lovelace"))
    expect(row.get_by_role("status")).to_have_text("Saved")
    expect(page.get_by_label("Role of Ada Lovelace")).to_have_value("Presenter")

    raw_id = ada.identity.raw_id
    assert until(lambda: acs_roles(room).get(raw_id) == Role.PRESENTER)
    assert acs_roles(room)[raw_id] == "Presenter"
    assert page.console_errors == []


def test_an_auditor_reads_the_history_exports_it_and_can_change_nothing(
    page, role_admin, auditor, worker
):
    room = _room_with_people(role_admin, "Grace Hopper")
    sign_in(page, auditor)
    expect(page.locator("main form[method=post]")).to_have_count(0)
    screenshot(page, "dashboard")

    page.goto(f"/rooms/{room.pk}/")
    history = page.locator("#history")
    expect(history).to_contain_text("Room created")
    expect(history).to_contain_text("Participant added")
    assert _post_forms_in_main(page) == 0
    assert page.locator("main select, main input[type=checkbox]").count() == 0
    for name in ("Edit", "Delete", "Add people", "Duplicate", "Extend by 7 days"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
        expect(page.get_by_role("button", name=name)).to_have_count(0)

    page.get_by_role("link", name="History", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("History")
    screenshot(page, "history")
    assert _post_forms_in_main(page) == 0
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    actions = {row[3] for row in rows[1:]}
    assert {"portal.room.created", "portal.participant.added"} <= actions
    assert any("Design review" in cell for row in rows for cell in row)

    for path in ("/rooms/", "/rooms/calendar/", "/identities/"):
        page.goto(path)
        assert _post_forms_in_main(page) == 0, path
    assert page.console_errors == []


def test_a_csv_with_a_bad_row_is_refused_naming_the_row_and_nothing_changes(
    page, scheduler, worker
):
    room = _room_with_people(scheduler, "Ada Lovelace")
    # What a user's change records; the worker thread may still be recording the room's push.
    user_events = AuditEvent.objects.filter(actor_id__isnull=False)
    before = (Participant.objects.count(), user_events.count())
    sign_in(page, scheduler)
    page.goto(f"/rooms/{room.pk}/")
    page.get_by_role("link", name="Import from CSV").first.click()
    data = "name,email,role\nAlan Turing,alan@example.com,Presenter\nNo Mail,not-an-email,\n"
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": data.encode()}]
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="This file cannot be imported")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Line 3")
    expect(page.get_by_role("button", name="Apply")).to_have_count(0)
    screenshot(page, "csv-import-refused")
    assert (Participant.objects.count(), user_events.count()) == before


def test_a_window_over_180_days_is_refused_with_the_reason_and_nothing_changes(page, scheduler):
    before = (Room.objects.count(), AuditEvent.objects.count())
    sign_in(page, scheduler)
    page.goto("/rooms/new/")
    start = timezone.localtime(timezone.now() + timedelta(days=1)).replace(hour=10, minute=0)
    page.get_by_label("Title").fill("Too long")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill((start + timedelta(days=181)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").blur()
    # Checked as the user leaves the field, before anything is saved...
    expect(page.locator("main")).to_contain_text("at most 180 days")
    page.get_by_role("button", name="Create room").click()
    # ...and refused on save with the same reason.
    expect(page.locator("main")).to_contain_text("at most 180 days")
    screenshot(page, "room-form-refused")
    assert (Room.objects.count(), AuditEvent.objects.count()) == before


def test_a_newcomer_schedules_a_room_adds_three_people_makes_one_presenter_and_finds_it(
    page, superuser, worker
):
    sign_in(page, superuser)
    page.get_by_role("link", name="Rooms", exact=True).click()
    page.get_by_role("link", name="New room").click()
    page.get_by_label("Title").fill("Team sync")
    page.get_by_role("button", name="Create room").click()
    page.get_by_role("link", name="Add people").first.click()
    people = [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com")]
    people.append(("Grace Hopper", "grace@example.com"))
    for n, (name, email) in enumerate(people, start=1):
        page.get_by_label(f"Name of new person {n}").fill(name)
        page.get_by_label(f"E-mail of new person {n}").fill(email)
    page.get_by_role("button", name="Add people").click()
    expect(page.locator("#participant-count")).to_have_text("3")
    page.get_by_label("Role of Grace Hopper").select_option("Presenter")
    expect(page.locator("tr", has=page.get_by_label("Role of Grace Hopper"))).to_contain_text(
        "Saved"
    )

    page.get_by_role("link", name="History", exact=True).click()
    expect(page.locator("main")).to_contain_text("Participant role changed")
    expect(page.locator("main")).to_contain_text("Presenter")
    room = Room.objects.get(title="Team sync")
    grace = Participant.objects.get(room=room, identity__display_name="Grace Hopper")
    assert until(lambda: acs_roles(room).get(grace.identity.raw_id) == "Presenter")
    assert page.console_errors == []


def test_every_main_page_renders_without_errors_and_is_photographed(page, superuser, worker):
    room = _room_with_people(superuser, "Ada Lovelace", "Alan Turing")
    identity = Participant.objects.filter(room=room).first().identity
    sign_in(page, superuser)
    pages = {
        "dashboard-admin": "/",
        "rooms-list": "/rooms/",
        "calendar": "/rooms/calendar/",
        "room-page-admin": f"/rooms/{room.pk}/",
        "room-edit": f"/rooms/{room.pk}/edit/",
        "room-delete": f"/rooms/{room.pk}/delete/",
        "identities": "/identities/",
        "identity": f"/identities/{identity.pk}/",
        "identity-new": "/identities/new/",
        "history-admin": "/history/",
        "admin": "/admin/",
        "admin-rooms": "/admin/rooms/room/",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == 200, path
        expect(page.locator("h1").first).to_be_visible()
        screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/rooms/{room.pk}/")
    screenshot(page, "room-page-phone")
    # Nothing overflows a phone's width but the tables, which scroll inside their frame.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.console_errors == []
