"""The join page: no sign-in, the room's window in its zone and UTC, one neutral 404."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from joining import links
from portal.models import Preference
from rooms import services
from tests.joining.conftest import person
from tests.rooms.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db

INVALID = "This join link is not valid (it may have been revoked)"


def _path(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def _assert_private(response):
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex"


def test_before_the_window_it_says_when_the_call_opens_in_the_owners_zone_and_utc(
    client, upcoming_room, scheduler
):
    Preference.objects.create(user=scheduler, time_zone="Asia/Tokyo")
    response = client.get(_path(links.link_for(person(upcoming_room))))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Tomorrow" in page
    assert "Ada Lovelace" in page and "Attendee" in page
    start = upcoming_room.valid_from
    assert start.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") in page
    assert "JST" in page
    assert start.astimezone(timezone.UTC).strftime("%Y-%m-%d %H:%M UTC") in page
    assert "The call opens" in page and "Come back to this page then" in page
    assert "join-call" not in page and "call panel" not in page
    _assert_private(response)


def test_without_an_owner_zone_it_shows_the_portals_zone(client, upcoming_room, settings):
    response = client.get(_path(links.link_for(person(upcoming_room))))
    # The tests' portal runs on UTC.
    assert settings.TIME_ZONE == "UTC"
    assert "UTC" in response.content.decode()


def test_after_the_window_it_says_the_call_has_ended(client):
    now = timezone.now()
    room = RoomFactory(valid_from=now - timedelta(hours=3), valid_until=now - timedelta(hours=1))
    participant = ParticipantFactory(room=room)
    response = client.get(_path(links.link_for(participant)))
    assert response.status_code == 200
    assert "This call has ended" in response.content.decode()


def test_within_the_window_it_shows_the_call_panel_with_its_token_url(client, live_room):
    url = links.link_for(person(live_room))
    response = client.get(_path(url))
    page = response.content.decode()
    assert response.status_code == 200
    assert _path(url) + "token" in page
    assert "The call opens" not in page and "has ended" not in page
    assert response.cookies.get("csrftoken") is not None
    _assert_private(response)


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_the_join_page_lets_the_calling_sdk_reach_acs_and_no_other_page_does(
    client, live_room, scheduler
):
    """ACS's Calling SDK talks to Azure over HTTPS and WebSockets, runs WebAssembly and starts
    blob: workers; the portal's own pages keep 'self' only."""
    joined = _csp(client.get(_path(links.link_for(person(live_room)))))
    assert {"https:", "wss:"} <= set(joined["connect-src"])
    assert "'wasm-unsafe-eval'" in joined["script-src"]
    assert "'unsafe-inline'" not in joined["script-src"]
    assert "blob:" in joined["worker-src"]
    assert joined["frame-ancestors"] == ["'none'"] and joined["object-src"] == ["'none'"]

    client.force_login(scheduler)
    portal = _csp(client.get(reverse("rooms:list")))
    assert portal["connect-src"] == ["'self'"] and "worker-src" not in portal


@pytest.mark.parametrize("how", ["unknown", "tampered", "revoked", "room deleted", "truncated"])
def test_every_link_that_leads_nowhere_gets_the_same_neutral_404(
    client, upcoming_room, scheduler, how
):
    ada = person(upcoming_room)
    path = _path(links.link_for(ada))
    secret = path.split("/")[2]
    if how == "unknown":
        path = "/join/" + "x" * 43 + "/"
    elif how == "tampered":
        path = path.replace(
            secret, ("A" if secret[5] != "A" else "B").join((secret[:5], secret[6:]))
        )
    elif how == "revoked":
        links.revoke(ada, actor=scheduler, reason="")
    elif how == "room deleted":
        services.room_delete(actor=scheduler, room=upcoming_room)
    else:
        path = path.replace(secret, secret[:20])
    response = client.get(path)
    assert response.status_code == 404
    page = response.content.decode()
    assert INVALID in page
    assert "Stand-up" not in page and "Tomorrow" not in page and "Ada" not in page
    _assert_private(response)


def test_the_404_is_the_same_page_whatever_the_reason(client, upcoming_room, scheduler):
    ada = person(upcoming_room)
    path = _path(links.link_for(ada))
    links.revoke(ada, actor=scheduler, reason="")
    revoked = client.get(path).content.decode()
    never = client.get("/join/" + "y" * 43 + "/").content.decode()
    # Only the CSRF token and the scripts' CSP nonce differ from one response to the next.
    per_response = re.compile(r'"X-CSRFToken": "[^"]*"|nonce="[^"]*"')
    assert per_response.sub("", revoked) == per_response.sub("", never)


def test_someone_elses_link_shows_their_room_not_this_one(client, upcoming_room, scheduler):
    other = RoomFactory(title="Board meeting")
    theirs = ParticipantFactory(room=other)
    page = client.get(_path(links.link_for(theirs))).content.decode()
    assert "Board meeting" in page and "Tomorrow" not in page
    assert theirs.identity.display_name in page and "Ada Lovelace" not in page


def test_the_page_answers_only_get_and_head(client, upcoming_room):
    path = _path(links.link_for(person(upcoming_room)))
    assert client.post(path).status_code == 405
    assert client.head(path).status_code == 200


def test_signed_in_staff_see_the_page_the_same_way(client, upcoming_room, auditor):
    client.force_login(auditor)
    response = client.get(_path(links.link_for(person(upcoming_room))))
    assert response.status_code == 200
    assert "Ada Lovelace" in response.content.decode()
    assert reverse("joining:join", kwargs={"secret": "s"}) == "/join/s/"
