"""Issue 14's newcomer, end to end in Chromium: staff add a new person to a room that is open
now, the worker e-mails the invitation, the person reads it in the emulator's inbox (served over
HTTP, as `make run` serves it), follows the link with fake camera and microphone, passes the
device check and is told why the call itself needs a real ACS resource."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from acs_emulator import start_server
from invitations.services import scan_all
from joining.views import EMULATED_NOTICE
from rooms.services import room_create
from tests.browser.conftest import CHROMIUM_ARGS, _chromium, screenshot, sign_in
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db(transaction=True)

TITLE = "Welcome call"
NEWCOMER = ("Nia Newcomer", "nia@example.com")
BUNDLE = "vendor/acs-calling/acs-calling.min.js"


@pytest.fixture(scope="module")
def chromium():
    """Chromium with its fake camera and microphone, and every permission prompt answered yes:
    the staff's tab (conftest's `page`) and the newcomer's come from this one browser."""
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=args)
        yield browser
        browser.close()


@pytest.fixture
def served_emulator(emulator, settings, live_server):
    """The portal's own embedded emulator served over HTTP, its inbox in the portal's menu, and
    the portal's links pointing at the live server: what scripts/run.sh sets up."""
    handle = start_server(emulator=emulator)
    settings.ACS_EMULATOR_INBOX_URL = handle.url + "_emulator/inbox"
    settings.PORTAL_BASE_URL = live_server.url
    settings.ACS_EMAIL_SENDER = "DoNotReply@rooms.example.com"
    settings.ACS_EMAIL_SENDER_NAME = "Rooms portal"
    emulator.email.clear()
    # The emulator answers "Running" until the next poll after Retry-After: keep the waits short.
    emulator.email.set_retry_after(0.01)
    yield handle
    handle.stop()


@pytest.fixture
def newcomer_tab(chromium):
    """A browser of the newcomer's own: no staff session; records requests and errors."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.requests, tab.console_errors = [], []
    tab.on("request", lambda request: tab.requests.append(request))
    tab.on(
        "console", lambda msg: tab.console_errors.append(msg.text) if msg.type == "error" else None
    )
    tab.on("pageerror", lambda exc: tab.console_errors.append(str(exc)))
    tab.on(
        "response",
        lambda response: (
            tab.console_errors.append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    yield tab
    context.close()


def _worker_runs(django_capture_on_commit_callbacks) -> None:
    """The worker's part, in this thread: the housekeeper's scan of the audit trail queues the
    invitation, then the tasks push the room and send the e-mail."""
    with django_capture_on_commit_callbacks(execute=True):
        scan_all()
    run_tasks()


def test_a_newcomer_reads_the_invitation_follows_the_link_and_is_told_about_the_emulator(
    page, newcomer_tab, live_server, scheduler, served_emulator, django_capture_on_commit_callbacks
):
    start = timezone.now() - timedelta(minutes=5)
    room = room_create(
        actor=scheduler, title=TITLE, valid_from=start, valid_until=start + timedelta(hours=2)
    )
    run_tasks()  # the room is in ACS before anyone is added, as after any earlier worker round

    # Staff: a new identity on the Identities page, then into the room through "Add people".
    sign_in(page, scheduler)
    page.goto("/identities/new/")
    page.get_by_label("Name").fill(NEWCOMER[0])
    page.get_by_label("E-mail").fill(NEWCOMER[1])
    page.get_by_role("button", name="Create identity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NEWCOMER[0])
    page.goto(f"/rooms/{room.pk}/")
    page.get_by_role("link", name="Add people").first.click()
    page.get_by_label("Find by name, e-mail or ACS id").fill("Nia")
    page.get_by_role("checkbox", name=NEWCOMER[0]).check()
    page.get_by_role("button", name="Add people").click()
    expect(page.locator("#participant-count")).to_have_text("1")
    assert page.console_errors == []

    _worker_runs(django_capture_on_commit_callbacks)

    # The inbox, from the portal's menu, in a tab of its own.
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Sent e-mails (emulator)").click()
    inbox = opened.value
    expect(inbox.get_by_role("heading", name="Emulator inbox")).to_be_visible()
    row = inbox.get_by_role("row").filter(has_text=NEWCOMER[1])
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Succeeded")
    row.get_by_role("link", name=f"Invitation: {TITLE}").click()
    expect(inbox.get_by_role("heading", level=1)).to_contain_text(f"Invitation: {TITLE}")
    attachment = inbox.get_by_role("link", name="invite.ics")
    expect(attachment.locator("xpath=..")).to_contain_text("text/calendar; method=REQUEST")
    calendar = inbox.request.get(attachment.evaluate("a => a.href"))
    assert calendar.ok and b"BEGIN:VEVENT" in calendar.body()
    body = inbox.frame_locator("iframe[title='HTML body']")
    expect(body.get_by_text(f"You are invited to {TITLE}")).to_be_visible()
    link = body.get_by_role("link", name="Join the meeting").get_attribute("href")
    assert link is not None and link.startswith(f"{live_server.url}/join/")
    screenshot(inbox, "invitation-journey-inbox")

    # The newcomer: the link in a browser that never signed in.
    tab = newcomer_tab
    tab.goto(link)
    expect(tab.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(tab.locator(".join-name")).to_have_text(NEWCOMER[0])
    expect(tab.locator(".join-role")).to_have_text("Attendee")
    expect(tab.locator("[data-call-status]")).to_contain_text("your camera and microphone work")
    expect(tab.get_by_label("Your camera")).to_be_visible()
    tab.wait_for_function(
        "() => { const v = document.querySelector('[data-call-preview]');"
        " return !v.paused && v.videoWidth > 0; }"
    )
    tab.get_by_role("button", name="Join the call").click()

    expect(tab.locator("[data-call-notice]")).to_have_text(EMULATED_NOTICE)
    screenshot(tab, "invitation-journey-joined")
    assert [r.url for r in tab.requests if BUNDLE in r.url] == []
    assert tab.console_errors == []
