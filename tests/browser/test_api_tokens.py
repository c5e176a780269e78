"""A person makes an API token on their page, another system uses it, and revoking it ends it."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _api_status(live_server, token: str) -> int:
    request = urllib.request.Request(
        f"{live_server.url}/api/rooms", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.load(response)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_token_made_on_the_page_works_until_it_is_revoked(page, live_server, scheduler):
    sign_in(page, scheduler)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("Timetable sync")
    page.get_by_label("Expires in (days)").fill("30")
    page.get_by_role("button", name="Make token").click()
    secret = page.get_by_label("Your new API token").input_value()
    assert secret.startswith("acsp_")
    screenshot(page, "api-token-made")
    assert _api_status(live_server, secret) == 200

    page.goto("/api/tokens/")
    expect(page.get_by_label("Your new API token")).to_have_count(0)
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("“Timetable sync” no longer works.")).to_be_visible()
    assert _api_status(live_server, secret) == 401
    assert page.console_errors == []


def test_the_docs_page_shows_the_api(page, scheduler):
    sign_in(page, scheduler)
    page.goto("/api/docs")
    expect(page.get_by_text("ACS Rooms portal API").first).to_be_visible()
    expect(page.get_by_text("/api/rooms/{room_id}").first).to_be_visible()
    screenshot(page, "api-docs")
