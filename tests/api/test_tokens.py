"""Personal API tokens: made on the user's page and shown once, kept only as a hash, and
refused once expired or revoked."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from api import tokens
from api.models import ApiToken
from tests.api.conftest import ApiClient, error_of

pytestmark = pytest.mark.django_db


def _page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _secret_in(response) -> str:
    text = response.content.decode()
    start = text.index(tokens.PREFIX, text.index('class="api-token"'))
    return text[start : text.index('"', start)]


def test_the_page_shows_a_new_token_once(scheduler):
    client = _page(scheduler)
    made = client.post("/api/tokens/", {"name": "Timetable sync", "days": "30"})
    assert made.status_code == 200
    secret = _secret_in(made)
    assert ApiToken.objects.get().name == "Timetable sync"
    listed = client.get("/api/tokens/")
    assert "Timetable sync" in listed.content.decode()
    assert secret not in listed.content.decode()


def test_the_secret_is_in_no_column_of_the_database(scheduler):
    secret = _secret_in(_page(scheduler).post("/api/tokens/", {"name": "Sync", "days": "30"}))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken")
        rows = cursor.fetchall()
    assert rows and not any(secret in str(value) for row in rows for value in row)
    assert ApiToken.objects.get().sha256 == tokens.digest(secret)


def test_a_token_lives_at_most_a_year(scheduler):
    response = _page(scheduler).post("/api/tokens/", {"name": "Forever", "days": "3650"})
    assert response.status_code == 200
    assert "days" in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_the_token_acts_as_its_user(scheduler):
    secret = tokens.token_create(user=scheduler, name="t", days=1).secret
    assert ApiClient(secret).get("/rooms").status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None


def test_a_revoked_token_is_refused(scheduler):
    made = tokens.token_create(user=scheduler, name="t", days=1)
    client = _page(scheduler)
    assert client.post("/api/tokens/", {"revoke": str(made.token.pk)}).status_code == 302
    response = ApiClient(made.secret).get("/rooms")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_nobody_revokes_another_users_token(scheduler, auditor):
    made = tokens.token_create(user=scheduler, name="t", days=1)
    _page(auditor).post("/api/tokens/", {"revoke": str(made.token.pk)})
    assert ApiClient(made.secret).get("/rooms").status_code == 200


def test_an_expired_token_is_refused(scheduler):
    made = tokens.token_create(user=scheduler, name="t", days=1)
    ApiToken.objects.filter(pk=made.token.pk).update(expires_at=timezone.now() - timedelta(1))
    assert error_of(ApiClient(made.secret).get("/rooms"))["code"] == "unauthenticated"


def test_a_deactivated_users_token_is_refused(scheduler):
    made = tokens.token_create(user=scheduler, name="t", days=1)
    scheduler.is_active = False
    scheduler.save()
    assert ApiClient(made.secret).get("/rooms").status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer acsp_unknown", "Basic dXNlcjpwdw=="])
def test_a_missing_or_unknown_token_is_a_401_in_the_error_shape(header):
    client = ApiClient(None)
    response = client.get("/rooms", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


def test_a_session_is_not_a_token(superuser):
    # No session auth on the API: a signed-in browser cannot be made to call it (no CSRF).
    response = _page(superuser).get("/api/rooms")
    assert response.status_code == 401


def test_the_token_page_needs_a_sign_in():
    response = Client().get("/api/tokens/")
    assert response.status_code == 302 and "login/" in response["Location"]
