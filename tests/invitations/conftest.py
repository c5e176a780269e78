"""Invitations tests: the embedded emulator's inbox, and running the scan and the worker."""

import icalendar
import pytest

from invitations.services import scan_all
from tests.conftest import run_tasks

SENDER = "DoNotReply@rooms.example.com"


@pytest.fixture
def inbox(emulator, settings):
    """The emulator's received e-mails (a function returning them, oldest first)."""
    settings.ACS_EMAIL_SENDER = SENDER
    settings.ACS_EMAIL_SENDER_NAME = "Rooms portal"
    settings.PORTAL_BASE_URL = "https://rooms.example.com"
    emulator.email.clear()
    emulator.email.clear_bad_addresses()
    # The emulator answers "Running" until the next poll after Retry-After: keep the waits short.
    emulator.email.set_retry_after(0.01)

    def received(to: str | None = None) -> list[dict]:
        found = list(reversed(emulator.email.messages()))
        if to is not None:
            found = [m for m in found if any(r["address"] == to for r in m["to"])]
        return found

    yield received
    emulator.email.clear_bad_addresses()


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Run the worker's part: read the committed changes, then every task they enqueued."""

    def run() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            scan_all()
        run_tasks()

    return run


def attachment(emulator, message: dict) -> icalendar.Calendar:
    """The message's calendar file, parsed back."""
    name, content_type, data = emulator.email.attachment(message["id"], 0)
    assert name.endswith(".ics")
    return icalendar.Calendar.from_ical(data)


def the_event(cal: icalendar.Calendar) -> icalendar.Event:
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    return events[0]
