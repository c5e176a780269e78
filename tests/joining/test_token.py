"""The token endpoint: a voip.join token for the link's identity, inside the window only,
rate-limited, CSRF-protected, and kept nowhere: not in the database, the history or the logs."""

import logging
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from identities.sync import push_identity
from joining import links, throttle, tokens
from portal.models import AuditEvent
from rooms import services
from tests.identities.factories import IdentityFactory
from tests.joining.conftest import database_text, person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()


def _paths(participant) -> tuple[str, str]:
    page = links.link_for(participant).removeprefix("http://127.0.0.1:8000")
    return page, page + "token"


def test_it_issues_a_join_only_token_for_the_links_identity_until_the_room_ends(
    client, emulator, live_room, caplog
):
    caplog.set_level(logging.DEBUG)
    ada = person(live_room)
    page, token_url = _paths(ada)
    response = client.post(token_url)
    assert response.status_code == 200
    body = response.json()
    status = emulator.token_status(body["token"])
    assert status["valid"] is True
    assert status["identity"] == ada.identity.raw_id == body["user_id"]
    assert status["scopes"] == ["voip.join"]
    assert body["room_id"] == live_room.acs_id
    assert body["emulated"] is True and "emulator" in body["notice"]
    expires = datetime.fromisoformat(body["expires_on"])
    # As long as the room has left, to the minute ACS counts in.
    assert live_room.valid_until - timedelta(minutes=1) <= expires
    assert expires <= live_room.valid_until + timedelta(minutes=1)
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    # Kept nowhere.
    assert body["token"] not in database_text()
    assert body["token"] not in caplog.text
    event = AuditEvent.objects.get(action="portal.join_token.issued")
    assert event.room_id == live_room.pk
    assert event.changes["scopes"]["after"] == ["voip.join"]
    assert body["token"] not in repr((event.changes, event.acs_outcome, event.target_label))
    ada.identity.refresh_from_db()
    assert ada.identity.token_scopes == [] and ada.identity.token_expires_at is None


def test_under_an_hour_left_still_gets_the_60_minutes_acs_allows():
    now = timezone.now()
    assert tokens.token_minutes(now + timedelta(minutes=10), now) == 60
    assert tokens.token_minutes(now + timedelta(minutes=90, seconds=1), now) == 91
    assert tokens.token_minutes(now + timedelta(days=3), now) == 1440


def test_before_the_window_no_token_is_issued(client, emulator, upcoming_room, caplog):
    _, token_url = _paths(person(upcoming_room))
    response = client.post(token_url)
    assert response.status_code == 403
    assert "not opened yet" in response.json()["error"]
    assert "Forbidden: /join/[secret]/token" in caplog.text
    assert token_url.split("/")[2] not in caplog.text
    assert not AuditEvent.objects.filter(action="portal.join_token.issued").exists()


def test_after_the_window_no_token_is_issued(client, emulator, live_room):
    _, token_url = _paths(person(live_room))
    type(live_room).objects.filter(pk=live_room.pk).update(
        valid_from=timezone.now() - timedelta(hours=3), valid_until=timezone.now()
    )
    response = client.post(token_url)
    assert response.status_code == 403
    assert "ended" in response.json()["error"]


def test_a_room_not_yet_in_acs_answers_409_with_what_to_do(client, scheduler, emulator):
    from tests.joining.conftest import make_room

    room = make_room(scheduler, starts_in=timedelta(minutes=-1))
    _, token_url = _paths(person(room))
    response = client.post(token_url)
    assert response.status_code == 409
    assert response.json() == {"error": "The room is still being set up; try again in a minute."}


def test_someone_acs_does_not_hold_in_the_room_yet_gets_409(client, emulator, live_room, scheduler):
    newcomer = IdentityFactory()
    push_identity(newcomer.pk)
    services.participants_add(
        actor=scheduler, room=live_room, entries=[services.ParticipantEntry(newcomer)]
    )
    # The room's push has not run: ACS does not know them in this room yet.
    _, token_url = _paths(person(live_room, newcomer.email))
    response = client.post(token_url)
    assert response.status_code == 409
    assert "still being set up" in response.json()["error"]


def test_a_revoked_link_gets_no_token(client, emulator, live_room, scheduler):
    ada = person(live_room)
    _, token_url = _paths(ada)
    links.revoke(ada, actor=scheduler, reason="")
    response = client.post(token_url)
    assert response.status_code == 404
    assert "not valid" in response.json()["error"]


def test_the_endpoint_answers_only_post(client, emulator, live_room):
    _, token_url = _paths(person(live_room))
    assert client.get(token_url).status_code == 405


def test_it_is_rate_limited_per_link(client, emulator, live_room, caplog):
    ada, alan = person(live_room), person(live_room, "alan@example.com")
    _, token_url = _paths(ada)
    for _ in range(throttle.TOKENS_PER_WINDOW):
        assert client.post(token_url).status_code == 200
    refused = client.post(token_url)
    assert refused.status_code == 429
    assert "Too many tries" in refused.json()["error"]
    assert 0 < int(refused["Retry-After"]) <= throttle.WINDOW_SECONDS
    # Someone else's link counts on its own.
    assert client.post(_paths(alan)[1]).status_code == 200


def test_it_needs_the_csrf_token(emulator, live_room, caplog):
    caplog.set_level(logging.DEBUG)
    browser = Client(enforce_csrf_checks=True)
    page, token_url = _paths(person(live_room))
    secret = page.split("/")[2]
    assert browser.post(token_url).status_code == 403
    browser.get(page)
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(token_url, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200
    # The refused request was logged, with the link's secret masked.
    assert "/join/[secret]/token" in caplog.text
    assert secret not in caplog.text


def test_no_logged_line_carries_a_links_secret(client, emulator, live_room, scheduler, caplog):
    caplog.set_level(logging.DEBUG)
    ada = person(live_room)
    page, token_url = _paths(ada)
    secret = page.split("/")[2]
    links.revoke(ada, actor=scheduler, reason="")
    assert client.get(page).status_code == 404
    assert client.post(token_url).status_code == 404
    assert "Not Found: /join/[secret]/" in caplog.text
    assert secret not in caplog.text


def test_emulated_is_false_only_for_an_azure_endpoint(settings):
    settings.ACS_CONNECTION_STRING = ""
    assert tokens.on_emulator() is True
    settings.ACS_CONNECTION_STRING = "endpoint=http://127.0.0.1:8443/;accesskey=a2V5"
    assert tokens.on_emulator() is True
    settings.ACS_CONNECTION_STRING = "endpoint=https://x.communication.azure.com/;accesskey=a2V5"
    assert tokens.on_emulator() is False


def test_acs_refusing_is_a_503_with_a_message_and_recorded(client, emulator, live_room):
    _, token_url = _paths(person(live_room))
    emulator.set_faults(error_rates={400: 1.0})
    response = client.post(token_url)
    assert response.status_code == 503
    assert "try again" in response.json()["error"]
    assert AuditEvent.objects.filter(action="acs.join_token.issue_failed").exists()
