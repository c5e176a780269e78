"""Signing in and out, the page a signed-in user lands on, and sign-in throttling (django-axes)."""

import io
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from portal.login import client_address
from tests.conftest import PASSWORD
from tests.portal.test_env import _manage_check

USER_ADDRESS = "203.0.113.10"
ATTACKER = "198.51.100.66"
PROXY = "10.0.0.1"


@pytest.mark.django_db
def test_the_login_page_renders_a_labelled_form(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_a_user_signs_in_sees_the_dashboard_and_signs_out(client, scheduler):
    response = client.post(
        reverse("login"), {"username": scheduler.username, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert "sam.scheduler" in response.content.decode()
    assert "Sign out" in response.content.decode()

    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert client.get(reverse("dashboard")).status_code == 302


def test_a_wrong_password_is_refused_with_a_message(client, scheduler):
    response = client.post(reverse("login"), {"username": scheduler.username, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logging_out_needs_a_post(client, scheduler):
    client.force_login(scheduler)
    assert client.get(reverse("logout")).status_code == 405


def test_every_page_carries_a_strict_content_security_policy(client, scheduler):
    client.force_login(scheduler)
    response = client.get(reverse("dashboard"))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "default-src 'self'" in policy


def test_the_layout_loads_htmx_locally_and_has_no_inline_script(client, scheduler):
    client.force_login(scheduler)
    html = client.get(reverse("dashboard")).content.decode()
    assert re.search(
        r'<script src="/static/django_htmx/htmx-2\.min\.js" defer[^>]*></script>', html
    )
    assert "<script>" not in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "X-CSRFToken" in html


def test_the_health_check_reports_the_database(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}


# ------------------------------------------------------------------------------ throttling


@pytest.fixture
def victim(db, django_user_model):
    return django_user_model.objects.create_user(
        username="victim", password=PASSWORD, is_staff=True
    )


def _browser(address: str, forwarded_for: str | None = None) -> Client:
    """A client whose requests come from `address` (or through a proxy, for `forwarded_for`)."""
    headers = {"REMOTE_ADDR": address}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client(raise_request_exception=False, **headers)


def _sign_in(client: Client, username: str, password: str = PASSWORD, url: str = "/login/"):
    return client.post(url, {"username": username, "password": password})


def _fail(client: Client, username: str, times: int, url: str = "/login/") -> None:
    for _ in range(times):
        response = _sign_in(client, username, "wrong", url)
        assert response.status_code in {200, 429}


def _signed_in_as(client: Client, user) -> bool:
    return client.session.get("_auth_user_id") == str(user.pk)


def _assert_locked_out(response, client: Client, minutes: int = 15) -> None:
    html = response.content.decode()
    assert response.status_code == 429
    assert "Too many failed sign-ins for this account from your address" in html
    assert f"locked for {minutes} more minutes, even with the right password" in html
    assert "axes_reset_username" in html
    assert "_auth_user_id" not in client.session


def test_an_attackers_failures_from_elsewhere_never_stop_the_users_own_sign_in(victim):
    _fail(_browser(ATTACKER), "victim", 25)

    user = _browser(USER_ADDRESS)
    response = _sign_in(user, "victim")

    assert response.status_code == 302
    assert _signed_in_as(user, victim)


def test_many_usernames_guessed_from_one_address_lock_no_one_else_there(victim):
    office = _browser(USER_ADDRESS)
    for n in range(25):
        _fail(office, f"guess{n}", 1)

    _sign_in(office, "victim")
    assert _signed_in_as(office, victim)


def test_behind_a_proxy_failures_count_against_the_forwarded_client(settings, victim):
    settings.TRUSTED_PROXY_COUNT = 1
    # The attacker writes the user's address into X-Forwarded-For; the proxy appends its own peer.
    attacker = _browser(PROXY, forwarded_for=f"{USER_ADDRESS}, {ATTACKER}")
    _fail(attacker, "victim", 25)

    user = _browser(PROXY, forwarded_for=USER_ADDRESS)
    _sign_in(user, "victim")
    assert _signed_in_as(user, victim)

    # The attacker is locked out himself, on his own address, not on the proxy's.
    _assert_locked_out(_sign_in(attacker, "victim"), attacker)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_the_client_address_is_read_through_the_configured_number_of_proxies(settings):
    factory = RequestFactory()
    chain = "192.0.2.1, 198.51.100.7, 203.0.113.9"  # spoofed, client, first proxy
    request = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=chain)

    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == PROXY
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.9"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(request) == "198.51.100.7"
    # A request that did not come through the proxies is keyed on its own address.
    assert client_address(factory.get("/", REMOTE_ADDR=ATTACKER)) == ATTACKER
    garbage = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="not-an-ip")
    assert client_address(garbage) == PROXY


VARIANTS = ["victim ", " victim", "victim\xa0", "ｖｉｃｔｉｍ"]


@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
def test_every_variant_of_a_username_signs_in_as_that_user(victim, variant):
    client = _browser(USER_ADDRESS)
    _sign_in(client, variant)
    assert _signed_in_as(client, victim)


def test_variants_of_a_username_share_one_counter(victim):
    attacker = _browser(ATTACKER)
    for variant in VARIANTS:
        _fail(attacker, variant, 1)
    assert list(AccessAttempt.objects.values_list("username", flat=True).distinct()) == ["victim"]

    response = _sign_in(attacker, "victim", "wrong")  # the fifth failure locks

    _assert_locked_out(response, attacker)
    _assert_locked_out(_sign_in(attacker, "ｖｉｃｔｉｍ"), attacker)


def test_sign_in_is_case_sensitive_so_other_cases_are_other_accounts(victim):
    client = _browser(USER_ADDRESS)
    _sign_in(client, "VICTIM")
    assert not _signed_in_as(client, victim)
    _fail(client, "Victim", 6)
    _sign_in(client, "victim")
    assert _signed_in_as(client, victim)


def test_once_locked_the_right_password_is_refused_with_the_truth_not_a_500(victim):
    client = _browser(USER_ADDRESS)
    _fail(client, "victim", 4)
    assert _sign_in(client, "victim", "wrong").status_code == 429

    response = _sign_in(client, "victim")

    _assert_locked_out(response, client)
    # The portal's own sign-in page, with its layout and policy, not a bare error.
    assert '<label for="id_username">Username</label>' in response.content.decode()
    assert "Content-Security-Policy" in response
    assert client.get("/login/").status_code == 200


def test_the_page_says_how_long_is_left_and_tries_meanwhile_do_not_extend_it(victim):
    client = _browser(USER_ADDRESS)
    _fail(client, "victim", 5)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=10)
    )

    _assert_locked_out(_sign_in(client, "victim"), client, minutes=5)
    _assert_locked_out(_sign_in(client, "victim", "wrong"), client, minutes=5)


def test_the_lock_lifts_after_the_cool_off(victim):
    client = _browser(USER_ADDRESS)
    _fail(client, "victim", 5)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    _sign_in(client, "victim")
    assert _signed_in_as(client, victim)


def test_a_success_forgets_the_earlier_failures(victim):
    client = _browser(USER_ADDRESS)
    _fail(client, "victim", 4)
    _sign_in(client, "victim")
    assert _signed_in_as(client, victim)
    assert not AccessAttempt.objects.exists()


def test_the_admin_sign_in_is_covered_too(superuser):
    client = _browser(USER_ADDRESS)
    _fail(client, "root", 5, url="/admin/login/")

    response = _sign_in(client, "root", url="/admin/login/")

    _assert_locked_out(response, client)
    assert "ACS Rooms portal admin" in response.content.decode()  # the admin's own page
    # The portal's sign-in shares the counter: the same pair is locked there as well.
    _assert_locked_out(_sign_in(client, "root"), client)
    # From another address the right password still works.
    elsewhere = _browser(ATTACKER)
    assert _sign_in(elsewhere, "root", url="/admin/login/").status_code == 302
    assert _signed_in_as(elsewhere, superuser)


@pytest.mark.parametrize(
    ("command", "args"), [("axes_reset", []), ("axes_reset_username", ["victim"])]
)
def test_the_reset_commands_unlock(victim, command, args):
    client = _browser(USER_ADDRESS)
    _fail(client, "victim", 5)
    _assert_locked_out(_sign_in(client, "victim"), client)

    call_command(command, *args, stdout=io.StringIO())

    _sign_in(client, "victim")
    assert _signed_in_as(client, victim)


def test_superusers_see_the_lock_outs_in_the_admin_and_staff_do_not(victim, superuser, scheduler):
    _fail(_browser(ATTACKER), "victim", 5)
    admin = Client()
    admin.force_login(superuser)
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "victim" in listing.content.decode() and "Locked Out" in listing.content.decode()
    assert "Access attempts" in admin.get("/admin/").content.decode()

    staff = Client()
    staff.force_login(scheduler)
    assert staff.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_a_nul_byte_in_the_username_is_refused_without_a_500(db, url):
    response = _sign_in(_browser(USER_ADDRESS), "adm\x00in", url=url)
    # The form refuses it (200), or a guard in front of every view does (400).
    assert response.status_code in {200, 400}
    assert not AccessAttempt.objects.exists()


@pytest.mark.parametrize("value", ["one", "-1"])
def test_start_up_names_a_malformed_trusted_proxy_count(value):
    result = _manage_check(DEBUG="true", TRUSTED_PROXY_COUNT=value)
    assert result.returncode == 1
    assert f"TRUSTED_PROXY_COUNT='{value}' is not valid" in result.stderr
