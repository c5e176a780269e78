"""Chromium (Debian's, through Playwright) against a live portal, with a worker pushing to ACS."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test's thread; the test still uses the ORM
# synchronously between browser steps, which Django otherwise refuses inside a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.conftest import PASSWORD, run_tasks  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("chromium is missing: `make test` installs it (scripts/install-browser.sh).")
    return path


# Per module, not per session: Playwright's sync API keeps an event loop running while open,
# which would break every later test that calls asyncio.run() (the SDK's aio clients).
@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser tab in Paris time, so every page must convert from UTC."""
    context = chromium.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        timezone_id="Europe/Paris",
        locale="en-GB",
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    # A CSP violation or a script error shows in the console: the test fails on any.
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # Name the resource a 404 in the console is about.
    tab.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    tab.console_errors = errors
    yield tab
    context.close()


def sign_in(page: Page, user) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def until(condition, seconds: float = 15.0):
    """Wait for the worker to get a change to ACS; the last value (falsy if it never came)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def acs_roles(room) -> dict[str, str]:
    """The room's participants as ACS holds them (raw id -> role); empty before it exists."""
    import acs_gateway as acs

    room.refresh_from_db()
    if not room.acs_id:
        return {}
    return dict(acs.get_gateway().list_participants(room.acs_id))


def screenshot(page: Page, name: str) -> Path:
    """Write a full-page screenshot under test-output/ (not committed) for a human to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def worker(emulator):
    """The task worker in a thread, as db_worker runs beside the web server."""
    stop = threading.Event()

    def loop():
        from django.db import close_old_connections, connections

        try:
            while not stop.is_set():
                run_tasks()
                close_old_connections()
                stop.wait(0.1)
        finally:
            # Or PostgreSQL cannot drop the test database at the end of the run.
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)
