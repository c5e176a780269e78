"""A date input shows the browser's own format (12/21/2026 in en-US); the portal spells the
date out beside it the way every page writes dates."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_date_picked_in_a_us_browser_is_spelled_out_as_the_portal_writes_dates(
    chromium, live_server, scheduler
):
    context = chromium.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, scheduler)
    page.goto("/rooms/")
    field = page.get_by_label("Valid on")
    field.fill("2026-12-21")
    expect(page.locator(".date-spelled").first).to_have_text("Mon 21 Dec 2026")
    field.fill("")
    expect(page.locator(".date-spelled").first).to_have_text("")
    assert errors == []
    context.close()
