"""In a browser: the room's invitations panel, the switch, and a preview that runs nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from identities.services import NewPerson
from invitations.models import Invitation, RoomCalendar
from rooms import services
from tests.browser.conftest import chromium, page, screenshot, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_switch_invitations_off_and_preview_an_email(page, scheduler, emulator):  # noqa: F811
    start = timezone.now() + timedelta(days=1)
    room = services.room_create(
        actor=scheduler,
        title='Launch <img src=x onerror="alert(1)">',
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[services.ParticipantEntry(NewPerson("Ada Lovelace", "ada@example.com"))],
    )
    sign_in(page, scheduler)
    page.goto(f"/rooms/{room.pk}/")
    panel = page.locator(".invitations-panel")
    expect(panel.get_by_role("link", name="Download calendar file (.ics)")).to_be_visible()
    panel.get_by_role("button", name="Turn invitations off").click()
    expect(page.locator(".messages")).to_contain_text("Invitations are off")
    expect(panel.get_by_role("button", name="Turn invitations on")).to_be_visible()
    assert RoomCalendar.objects.get(room_id=room.pk).invitations_enabled is False
    page.get_by_role("link", name="Invitations sent, preview and resend").click()
    page.get_by_role("link", name="Preview").click()
    frame = page.frame_locator("iframe.email-preview")
    expect(frame.get_by_text("You are invited to")).to_be_visible()
    expect(frame.locator("strong")).to_have_text('Launch <img src=x onerror="alert(1)">')
    screenshot(page, "invitation-preview")
    assert page.console_errors == []
    assert not Invitation.objects.exists()
