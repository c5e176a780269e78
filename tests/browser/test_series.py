"""A recurring room in the browser: across a daylight saving change, then a roster change
for one occurrence and the following ones, checked in ACS."""

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from rooms.models import Room, Series
from tests.browser.conftest import acs_roles, screenshot, sign_in, until

pytestmark = pytest.mark.django_db(transaction=True)
PARIS = ZoneInfo("Europe/Paris")


def test_a_weekly_series_across_dst_keeps_nine_and_a_later_role_change_reaches_acs(
    page, role_admin, worker, settings
):
    # Paris moves its clocks forward on Sunday 28 March 2027; the horizon reaches past it.
    settings.SERIES_HORIZON_DAYS = 180
    sign_in(page, role_admin)
    page.goto("/rooms/series/new/")
    page.get_by_label("Title").fill("Weekly stand-up")
    page.get_by_label("First occurrence starts").fill("2027-03-15T09:00")
    page.get_by_label("Each lasts").select_option("60")
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_label("Repeats").select_option("weekly")
    page.get_by_label("Ends").select_option("after")
    page.get_by_label("Times").fill("4")
    # Only the fields that apply show: no last day, no minutes, no monthly choice here.
    expect(page.get_by_label("Last day")).to_be_hidden()
    expect(page.get_by_label("Minutes")).to_be_hidden()
    expect(page.get_by_label("Monthly", exact=True)).to_be_hidden()
    page.get_by_label("Each lasts").select_option("custom")
    expect(page.get_by_label("Minutes")).to_be_visible()
    page.get_by_label("Each lasts").select_option("60")
    screenshot(page, "series-form")
    page.get_by_role("button", name="Create series").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Weekly stand-up")

    series = Series.objects.get()
    assert until(lambda: Room.objects.filter(series=series).count() == 4)
    rooms = list(Room.objects.filter(series=series).order_by("valid_from"))
    assert [r.valid_from.astimezone(PARIS).strftime("%a %d %b %H:%M") for r in rooms] == [
        "Mon 15 Mar 09:00",
        "Mon 22 Mar 09:00",
        "Mon 29 Mar 09:00",
        "Mon 05 Apr 09:00",
    ]
    assert [r.valid_from.astimezone(UTC).hour for r in rooms] == [8, 8, 7, 7]

    for name, email, role in (
        ("Ada Lovelace", "ada@example.com", "Presenter"),
        ("Alan Turing", "alan@example.com", "Attendee"),
    ):
        page.reload()
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("E-mail", exact=True).fill(email)
        page.get_by_label("Role", exact=True).select_option(role)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.locator(".messages")).to_contain_text("4 rooms updated")

    assert until(lambda: all(len(acs_roles(room)) == 2 for room in rooms))
    alan = series.roster.get(identity__email="alan@example.com").identity

    page.get_by_label("Role of Alan Turing").select_option("Presenter")
    page.locator("#roles-scope").select_option(str(rooms[1].pk))
    page.get_by_role("button", name="Save roles").click()
    expect(page.locator(".messages")).to_contain_text("3 rooms updated")
    screenshot(page, "series-page")

    def alan_roles():
        roles = [acs_roles(room).get(alan.raw_id) for room in rooms]
        return roles if roles == ["Attendee", "Presenter", "Presenter", "Presenter"] else None

    assert until(alan_roles) == ["Attendee", "Presenter", "Presenter", "Presenter"]
    assert page.console_errors == []
