"""A join link from end to end: staff make it on the room page, the person opens it without
signing in and joins (on the emulator: the token works, the notice says there is no call)."""

from datetime import timedelta

import pytest

from portal.models import AuditEvent
from tests.browser.conftest import screenshot, sign_in
from tests.joining.conftest import make_room, synced

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_make_a_link_and_the_person_joins_with_it(page, chromium, live_server, scheduler):
    room = synced(make_room(scheduler, starts_in=timedelta(minutes=-5), title="Now"))
    sign_in(page, scheduler)
    page.goto(f"/rooms/{room.pk}/")
    page.get_by_role("button", name="Make a link for Ada Lovelace").click()
    page.get_by_text("Ada Lovelace has a join link now.").wait_for()
    link = page.locator("#join-links code.join-url").first.inner_text()
    assert "/join/" in link and page.console_errors == []

    # The person: another browser, never signed in.
    visitor = chromium.new_context(base_url=live_server.url)
    tab = visitor.new_page()
    tab.goto(live_server.url + link.split("127.0.0.1:8000", 1)[1])
    assert tab.get_by_role("heading", name="Now").is_visible()
    tab.get_by_role("button", name="Join the call").click()
    tab.get_by_text("This portal runs on the ACS emulator").wait_for()
    screenshot(tab, "join-link-joined")
    visitor.close()
    assert AuditEvent.objects.filter(action="portal.join_token.issued", room_id=room.pk).exists()
