"""What every signed-in response, session and 403 obeys (portal.middleware).

- Every response to a signed-in user, on every URL, is `Cache-Control: private, no-store`.
- A sign-in ends SESSION_COOKIE_AGE after it was made and after SESSION_IDLE_TIMEOUT without a
  request, saying why; activity is written at most once a minute, not on every request.
- A 403 is logged as one WARNING line naming the user, the path and the permission.
- HSTS preload is opt-in.
"""

import logging
import subprocess
import sys
import time

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.cache import get_max_age

from portal.middleware import LAST_SEEN, SIGNED_IN_AT
from tests.conftest import PASSWORD
from tests.portal.test_deploy import REPO, _production_environment
from tests.security.test_permission_matrix import ROUTES, _concrete, _form, world  # noqa: F401


@pytest.fixture
def objects(request):
    """The permission matrix's objects (its `world` fixture): a room, a participant, a loner."""
    return request.getfixturevalue("world")


# ----------------------------------------------------------------------------- Cache-Control


def _directives(response) -> set[str]:
    return {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",")}


def _cases():
    for name, path in sorted(ROUTES.items()):
        if "." in name:
            continue
        for method in ("GET", "POST"):
            for user in ("superuser", "auditor"):
                yield pytest.param(name, path, method, user, id=f"{method} {path} {user}")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path", "method", "user_kind"), list(_cases()))
def test_every_response_to_a_signed_in_user_is_private_and_not_stored(
    request, objects, name, path, method, user_kind
):
    client = Client(raise_request_exception=False)
    client.force_login(request.getfixturevalue(user_kind))
    url = _concrete(name, path, objects)
    response = client.post(url, _form(objects)) if method == "POST" else client.get(url)
    if name == "logout" and method == "POST":
        # Signed out by this very response: nothing of theirs is in it.
        return
    # 200s, redirects, 403s, 404s and 405s alike: none may be kept by a cache.
    assert {"private", "no-store"} <= _directives(response), (response.status_code, response)
    assert "public" not in _directives(response)


@pytest.mark.django_db
def test_static_files_stay_cacheable_for_signed_in_users(client, superuser):
    client.force_login(superuser)
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert "no-store" not in _directives(response)
    assert get_max_age(response)


@pytest.mark.django_db
def test_the_sign_in_page_is_not_stored_either(client):
    assert "no-store" in _directives(client.get(reverse("login")))


# ----------------------------------------------------------------------------- session limits


def test_the_session_limits_default_to_a_working_day_and_half_an_hour(settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600
    assert settings.SESSION_IDLE_TIMEOUT == 30 * 60


def _probe(extra: dict) -> subprocess.CompletedProcess:
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_AGE, s.SESSION_IDLE_TIMEOUT)"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**_production_environment(), **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_session_limits_are_read_from_the_environment():
    result = _probe({"SESSION_COOKIE_AGE": "3600", "SESSION_IDLE_TIMEOUT": "0"})
    assert result.stdout.split() == ["3600", "0"], result.stderr
    result = _probe({"SESSION_IDLE_TIMEOUT": "soon"})
    assert result.returncode != 0
    assert "SESSION_IDLE_TIMEOUT='soon' is not valid" in result.stderr


def _signed_in(client, user, **stamps) -> Client:
    client.force_login(user)
    session = client.session
    for name, value in stamps.items():
        session[name] = value
    session.save()
    return client


@pytest.mark.django_db
def test_signing_in_starts_both_clocks(client, scheduler):
    before = int(time.time())
    response = client.post(reverse("login"), {"username": scheduler.username, "password": PASSWORD})
    assert response.status_code == 302
    session = client.session
    assert before <= session[SIGNED_IN_AT] <= int(time.time())
    assert session[LAST_SEEN] == session[SIGNED_IN_AT]


@pytest.mark.django_db
def test_a_session_idle_for_the_timeout_is_signed_out_with_the_reason(client, scheduler, settings):
    now = int(time.time())
    idle = settings.SESSION_IDLE_TIMEOUT
    _signed_in(client, scheduler, **{SIGNED_IN_AT: now - idle - 5, LAST_SEEN: now - idle - 1})

    response = client.get(reverse("rooms:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session
    login_page = client.get(response["Location"])
    shown = [str(message) for message in get_messages(login_page.wsgi_request)]
    assert shown == ["You were signed out after 30 minutes without activity. Sign in again."]


@pytest.mark.django_db
def test_activity_keeps_a_session_alive_writing_at_most_once_a_minute(client, scheduler, settings):
    now = int(time.time())
    idle = settings.SESSION_IDLE_TIMEOUT
    _signed_in(client, scheduler, **{SIGNED_IN_AT: now - idle, LAST_SEEN: now - idle + 30})

    assert client.get(reverse("rooms:list")).status_code == 200
    seen = client.session[LAST_SEEN]
    assert seen >= now

    _signed_in(client, scheduler, **{SIGNED_IN_AT: now - 100, LAST_SEEN: now - 10})
    assert client.get(reverse("rooms:list")).status_code == 200
    assert client.session[LAST_SEEN] == now - 10  # not written again within the minute


@pytest.mark.django_db
def test_the_sync_badge_polling_by_itself_is_not_activity(client, superuser, objects):
    now = int(time.time())
    _signed_in(client, superuser, **{SIGNED_IN_AT: now - 600, LAST_SEEN: now - 120})
    badge = reverse("rooms:sync_badge", args=[objects["room"].pk])
    assert client.get(badge, headers={"HX-Request": "true"}).status_code in (200, 204)
    assert client.session[LAST_SEEN] == now - 120
    assert client.get(reverse("rooms:detail", args=[objects["room"].pk])).status_code == 200
    assert client.session[LAST_SEEN] >= now


@pytest.mark.django_db
def test_a_session_older_than_its_age_is_signed_out_however_active(client, scheduler, settings):
    now = int(time.time())
    _signed_in(
        client, scheduler, **{SIGNED_IN_AT: now - settings.SESSION_COOKIE_AGE - 1, LAST_SEEN: now}
    )
    response = client.get(reverse("rooms:list"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "You were signed out 8 hours after signing in." in response.content.decode()


@pytest.mark.django_db
def test_the_admin_obeys_the_same_limits(client, superuser, settings):
    now = int(time.time())
    idle = settings.SESSION_IDLE_TIMEOUT
    _signed_in(client, superuser, **{SIGNED_IN_AT: now - idle - 5, LAST_SEEN: now - idle - 1})
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_an_idle_limit_of_zero_means_none(client, scheduler, settings):
    settings.SESSION_IDLE_TIMEOUT = 0
    now = int(time.time())
    _signed_in(client, scheduler, **{SIGNED_IN_AT: now - 3600, LAST_SEEN: now - 3000})
    assert client.get(reverse("rooms:list")).status_code == 200


@pytest.mark.django_db
def test_a_session_from_before_the_clocks_starts_them_now(client, scheduler):
    client.force_login(scheduler)
    session = client.session
    for name in (SIGNED_IN_AT, LAST_SEEN):
        session.pop(name, None)
    session.save()
    assert client.get(reverse("rooms:list")).status_code == 200
    assert client.session[SIGNED_IN_AT] >= int(time.time()) - 5


# ----------------------------------------------------------------------------- 403 in the log


@pytest.mark.django_db
def test_a_403_is_one_warning_line_with_user_path_and_permission(client, auditor, caplog):
    client.force_login(auditor)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("rooms:create"))
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None and not record.exc_text
    line = record.getMessage()
    assert "\n" not in line
    assert line.startswith("Forbidden: GET /rooms/new/ by aldo.auditor:")
    assert "rooms.add_room" in line
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_an_admin_403_is_one_line_too(client, auditor, caplog):
    client.force_login(auditor)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("admin:rooms_room_add"))
    assert response.status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info is None
    assert record.getMessage().startswith("Forbidden: GET /admin/rooms/room/add/ by aldo.auditor")
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_a_path_cannot_forge_a_second_log_line(client, auditor, caplog):
    client.force_login(auditor)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get(reverse("rooms:create") + "?x=%0AForbidden:%20forged")
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert "\n" not in record.getMessage()


@pytest.mark.django_db
def test_other_errors_keep_their_traceback(caplog):
    logger = logging.getLogger("django.request")
    with caplog.at_level(logging.ERROR, logger="django.request"):
        try:
            raise RuntimeError("boom")
        except RuntimeError as error:
            logger.error("Internal Server Error: /x", exc_info=error)
    (record,) = caplog.records
    assert record.exc_info is not None


# ----------------------------------------------------------------------------- HSTS


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True)
def test_hsts_is_sent_without_preload_unless_asked(settings):
    assert settings.SECURE_HSTS_PRELOAD is False
    response = Client().get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    settings.SECURE_HSTS_PRELOAD = True
    response = Client().get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"].endswith("; preload")
