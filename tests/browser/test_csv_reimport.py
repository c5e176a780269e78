"""A role admin re-imports a room's roster from CSV in Chromium: the preview names each row's
change, Apply makes them, and ACS (the emulator) ends up with the new roles and person."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

import acs_gateway as acs
from identities.services import NewPerson
from rooms.models import Role, Room
from rooms.services import ParticipantEntry, room_create
from tests.browser.conftest import screenshot, sign_in, until
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = [
    ("Ada Lovelace", "ada@example.com", Role.ATTENDEE),
    ("Alan Turing", "alan@example.com", Role.ATTENDEE),
    ("Grace Hopper", "grace@example.com", Role.PRESENTER),
    ("Olga Owner", "olga@example.com", Role.ATTENDEE),
]
# Ada becomes a Presenter and Grace a Consumer, Katherine joins; Alan and Olga stay as they are.
ROSTER = (
    "name,email,role\n"
    "Ada Lovelace,ada@example.com,Presenter\n"
    "Alan Turing,alan@example.com,Attendee\n"
    "Grace Hopper,grace@example.com,Consumer\n"
    "Olga Owner,olga@example.com,\n"
    "Katherine Johnson,katherine@example.com,Collaborator\n"
)
AFTER = {
    "ada@example.com": "Presenter",
    "alan@example.com": "Attendee",
    "grace@example.com": "Consumer",
    "olga@example.com": "Attendee",
    "katherine@example.com": "Collaborator",
}


def _room(actor) -> Room:
    start = timezone.now() + timedelta(hours=1)
    room = room_create(
        actor=actor,
        title="Quarterly review",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[
            ParticipantEntry(person=NewPerson(display_name=name, email=email), role=role)
            for name, email, role in PEOPLE
        ],
    )
    run_tasks()
    return Room.objects.get(pk=room.pk)


def _acs_roster(room: Room) -> dict[str, str]:
    """The room's people as ACS holds them, by e-mail."""
    room.refresh_from_db()
    if not room.acs_id:
        return {}
    email_of = dict(room.participants.values_list("identity__raw_id", "identity__email"))
    held = acs.get_gateway().list_participants(room.acs_id)
    return {email_of.get(raw_id, raw_id): role for raw_id, role in held.items()}


def test_a_role_admin_reimports_a_roster_that_changes_two_roles_and_adds_one_person(
    page, role_admin, worker
):
    room = _room(role_admin)
    assert until(lambda: len(_acs_roster(room)) == len(PEOPLE))
    sign_in(page, role_admin)
    page.goto(f"/rooms/{room.pk}/")
    page.get_by_role("link", name="Import from CSV").first.click()
    page.get_by_label("CSV file", exact=True).set_input_files(
        files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": ROSTER.encode()}]
    )
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Check, then apply")).to_be_visible()
    expect(page.locator("#count-change dd")).to_have_text("2")
    expect(page.locator("#count-add dd")).to_have_text("1")
    expect(page.locator("#count-unchanged dd")).to_have_text("2")
    expect(page.locator("#count-error dd")).to_have_text("0")
    rows = page.locator(".import-preview tbody tr")
    expect(rows.filter(has_text="Ada Lovelace")).to_contain_text("Change Attendee → Presenter")
    expect(rows.filter(has_text="Grace Hopper")).to_contain_text("Change Presenter → Consumer")
    expect(rows.filter(has_text="Alan Turing")).to_contain_text("Unchanged")
    expect(rows.filter(has_text="Katherine Johnson")).to_contain_text("Add new identity")
    screenshot(page, "csv-reimport-preview")
    # Nothing is written before Apply.
    assert dict(room.participants.values_list("identity__email", "role"))["ada@example.com"] == (
        "Attendee"
    )

    page.get_by_role("button", name="Apply: add 1 person and change 2 roles").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quarterly review")
    expect(page.locator("main")).to_contain_text(
        "Added 1 person to Quarterly review and changed the role of 2 people"
    )
    expect(page.locator("#participant-count")).to_have_text("5")
    expect(page.get_by_label("Role of Ada Lovelace")).to_have_value("Presenter")
    expect(page.get_by_label("Role of Grace Hopper")).to_have_value("Consumer")
    expect(page.get_by_label("Role of Katherine Johnson")).to_have_value("Collaborator")
    expect(page.get_by_label("Role of Alan Turing")).to_have_value("Attendee")
    expect(page.locator(".sync-status .badge")).to_have_text("In sync with ACS", timeout=20_000)
    screenshot(page, "csv-reimport-applied")

    assert until(lambda: _acs_roster(room) == AFTER)
    assert _acs_roster(room) == AFTER
    assert page.console_errors == []
