"""A user's own settings in a browser: their time zone, and a token page that survives a reload."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from identities.models import Identity
from portal.models import Preference
from tests.browser.conftest import screenshot, sign_in
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def new_york_page(chromium, live_server):
    """A tab whose browser is in New York: a zone chosen in the portal must win over it."""
    context = chromium.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        timezone_id="America/New_York",
        locale="en-GB",
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.console_errors = errors
    yield tab
    context.close()


def _next_winter_morning() -> datetime:
    """09:00 UTC on a January day ahead (Paris is on CET then, New York on EST)."""
    now = timezone.now()
    year = now.year + 1 if now.month > 1 or now.day > 20 else now.year
    return datetime(year, 1, 21, 8, 0, tzinfo=UTC)


def test_a_user_picks_paris_and_the_rooms_list_shows_cet(new_york_page, scheduler):
    page = new_york_page
    start = _next_winter_morning()
    RoomFactory(title="Winter review", valid_from=start, valid_until=start + timedelta(hours=1))
    sign_in(page, scheduler)
    page.get_by_role("link", name="Rooms", exact=True).click()
    # The browser's zone first: portal.js reported New York.
    page.reload()
    row = page.get_by_role("row").filter(has_text="Winter review")
    expect(row).to_contain_text("03:00–04:00 EST")

    page.locator(".account a.zone").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Time zone")
    zones = page.get_by_label("Time zone")
    # Grouped by region, with no pseudo-zones.
    assert zones.locator("optgroup").count() == 9
    assert zones.locator("option[value=Factory]").count() == 0
    zones.select_option("Europe/Paris")
    screenshot(page, "time-zone-setting")
    page.get_by_role("button", name="Save time zone").click()

    # Back on the rooms list, where the user came from, in Paris time.
    expect(page).to_have_url(re.compile(r"/rooms/$"))
    expect(page.locator(".message-success")).to_have_text("Times are now shown in Europe/Paris.")
    expect(page.locator(".account a.zone")).to_have_text("Europe/Paris")
    row = page.get_by_role("row").filter(has_text="Winter review")
    expect(row).to_contain_text(f"{start:%a %d %b %Y}, 09:00–10:00 CET")
    assert Preference.objects.get(user=scheduler).time_zone == "Europe/Paris"
    assert page.console_errors == []


def test_reloading_the_token_page_issues_no_second_token(page, role_admin, emulator):
    identity = IdentityFactory(display_name="Grace Hopper")
    sign_in(page, role_admin)
    page.goto(f"/identities/{identity.pk}/")
    page.get_by_role("button", name="Issue token").click()
    token = page.locator("#token")
    expect(token).to_be_visible()
    shown = token.input_value()
    assert emulator.token_status(shown)["valid"] is True
    issued_at = Identity.objects.get(pk=identity.pk).tokens_issued_at

    page.reload()

    expect(page.get_by_role("heading", name="This token was shown already")).to_be_visible()
    assert page.locator("#token").count() == 0
    assert shown not in page.content()
    assert emulator.requests()["counts"]["Identity_IssueAccessToken"] == 1
    assert Identity.objects.get(pk=identity.pk).tokens_issued_at == issued_at
    screenshot(page, "token-shown-already")

    # It offers a new one, with the same scopes and lifetime unless changed; this one lasts 4 hours.
    expect(page.get_by_label("Lifetime")).to_have_value("1440")
    page.get_by_label("Lifetime").select_option("240")
    page.get_by_role("button", name="Issue a new token").click()
    expect(page.locator("#token")).to_be_visible()
    assert emulator.requests()["counts"]["Identity_IssueAccessToken"] == 2
    second = page.locator("#token").input_value()
    assert second != shown
    assert emulator.token_status(second)["valid"] is True
    assert page.console_errors == []
