"""Staff sign in with Entra ID in Chromium: the emulator's local Entra ID, then the portal."""

import pytest
import requests
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from acs_emulator import entra_demo as demo
from acs_emulator import start_server
from portal.access import GROUP_PERMISSIONS, SCHEDULERS, apply_group_permissions
from portal.login import PASSWORD_SIGN_IN_OFF
from portal.models import EntraAccount
from rooms.models import Room
from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD
from tests.portal.entra_setup import SAM, use_entra

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def entra_server():
    handle = start_server()
    yield handle
    handle.stop()


@pytest.fixture
def portal_groups():
    # A transactional test before this one may have flushed what the data migration made.
    if Group.objects.filter(name__in=GROUP_PERMISSIONS).count() < len(GROUP_PERMISSIONS):
        apply_group_permissions(django_apps, GROUP_PERMISSIONS)


def _sign_in_with_entra(page, name: str) -> None:
    page.goto("/login/")
    page.get_by_role("link", name="Sign in with Microsoft Entra ID").click()
    expect(page.get_by_role("heading", name="Pick an account")).to_be_visible()
    page.get_by_role("button", name=name).click()


def test_a_scheduler_signs_in_with_entra_and_loses_access_once_out_of_the_group(
    page, live_server, settings, entra_server, portal_groups
):
    use_entra(settings, entra_server, live_server.url)
    _sign_in_with_entra(page, "Sam Scheduler")
    page.wait_for_url(f"{live_server.url}/")
    screenshot(page, "entra-signed-in")
    user = EntraAccount.objects.get(object_id=SAM).user
    assert set(user.groups.values_list("name", flat=True)) == {SCHEDULERS}

    page.get_by_role("link", name="Rooms", exact=True).click()
    page.get_by_role("link", name="New room").click()
    page.get_by_label("Title").fill("Signed in with Entra")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Signed in with Entra")
    assert Room.objects.filter(title="Signed in with Entra").exists()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")

    # An Entra administrator takes Sam out of the schedulers' group.
    removed = requests.delete(
        f"{entra_server.url}_emulator/entra/groups/{demo.GROUP_SCHEDULERS}/members/{SAM}",
        timeout=10,
    )
    assert removed.ok, removed.text
    _sign_in_with_entra(page, "Sam Scheduler")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator("main")).to_contain_text("You may not view rooms")
    screenshot(page, "entra-signed-in-without-group")
    assert page.console_errors == []
    assert page.goto("/rooms/new/").status == 403
    user.refresh_from_db()
    assert not user.groups.exists() and not user.is_staff


def test_with_password_sign_in_off_only_the_break_glass_superuser_uses_a_password(
    page, live_server, settings, entra_server, scheduler, superuser
):
    use_entra(settings, entra_server, live_server.url, password_sign_in=False)
    page.goto("/login/")
    expect(page.locator("main")).to_contain_text("Password sign-in is turned off")
    page.get_by_label("Username").fill(scheduler.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(PASSWORD_SIGN_IN_OFF)
    screenshot(page, "password-sign-in-off")
    page.goto("/admin/login/")
    expect(page.get_by_role("link", name="Sign in with Microsoft Entra ID")).to_be_visible()
    screenshot(page, "admin-login-with-entra")
    page.goto("/login/")

    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert page.console_errors == []
