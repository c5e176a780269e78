"""Signing in and out, and the page a signed-in user lands on."""

import re

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD


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


def _fail(client, username, times):
    for _ in range(times):
        client.post(reverse("login"), {"username": username, "password": "wrong"})


def test_sign_in_is_throttled_after_five_failures_even_with_the_right_password(client, scheduler):
    _fail(client, scheduler.username, 5)
    response = client.post(reverse("login"), {"username": scheduler.username, "password": PASSWORD})
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttling_lifts_after_the_window(client, scheduler):
    from datetime import timedelta

    from portal.login import WINDOW
    from portal.models import LoginFailure

    _fail(client, scheduler.username, 5)
    for failure in LoginFailure.objects.all():
        LoginFailure.objects.filter(pk=failure.pk).update(at=failure.at - WINDOW - timedelta(1))
    client.post(reverse("login"), {"username": scheduler.username, "password": PASSWORD})
    assert client.session["_auth_user_id"] == str(scheduler.pk)


def test_a_success_forgets_earlier_failures(client, scheduler):
    from portal.models import LoginFailure

    _fail(client, scheduler.username, 3)
    client.post(reverse("login"), {"username": scheduler.username, "password": PASSWORD})
    assert not LoginFailure.objects.filter(username=scheduler.username).exists()


def test_one_address_guessing_many_usernames_is_throttled(client, scheduler):
    for n in range(20):
        _fail(client, f"guess{n}", 1)
    response = client.post(reverse("login"), {"username": scheduler.username, "password": PASSWORD})
    assert "Too many failed sign-ins" in response.content.decode()


def test_the_admin_sign_in_is_throttled_too(client, superuser):
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert "Too many failed sign-ins" in response.content.decode()
