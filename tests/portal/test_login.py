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
