"""A user's calendar feed: a secret URL (kept hashed, shown once, revocable) listing the rooms
they own, for a calendar app to subscribe to without signing in."""

import hashlib
import re
from datetime import timedelta

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from invitations.models import FeedToken
from rooms import services
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db


def _make_url(client, user) -> str:
    client.force_login(user)
    response = client.post(reverse("invitations:feed_settings"), {"action": "create"})
    assert response.status_code == 200
    found = re.search(r'value="(http://testserver/invitations/feed/[^"]+\.ics)"', response.text)
    assert found, "the new URL is shown"
    client.logout()
    return found.group(1).removeprefix("http://testserver")


def _uids(response) -> list[str]:
    cal = icalendar.Calendar.from_ical(response.content)
    return [str(event["UID"]) for event in cal.walk("VEVENT")]


def _room(owner, title, start_in: timedelta, length=timedelta(hours=1)):
    start = timezone.now() + start_in
    return RoomFactory(owner=owner, title=title, valid_from=start, valid_until=start + length)


def test_the_feed_lists_the_owners_rooms_only_without_signing_in(client, scheduler, role_admin):
    mine = _room(scheduler, "Mine", timedelta(days=3))
    recent = _room(scheduler, "Last week", -timedelta(days=7))
    _room(scheduler, "Long ago", -timedelta(days=60))
    _room(scheduler, "Far ahead", timedelta(days=200))
    _room(role_admin, "Not mine", timedelta(days=3))
    deleted = services.room_create(actor=scheduler, title="Deleted")
    services.room_delete(actor=scheduler, room=deleted)
    url = _make_url(client, scheduler)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(response.content)
    assert "METHOD" not in cal
    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert sorted(str(e["SUMMARY"]) for e in cal.walk("VEVENT")) == ["Last week", "Mine"]
    assert f"room-{mine.pk}@" in " ".join(_uids(response))
    assert f"room-{recent.pk}@" in " ".join(_uids(response))


def test_the_feed_is_neither_cached_nor_indexed(client, scheduler):
    response = client.get(_make_url(client, scheduler))
    assert "no-store" in response["Cache-Control"]
    assert "noindex" in response["X-Robots-Tag"]


def test_the_secret_is_stored_hashed_and_shown_once(client, scheduler):
    url = _make_url(client, scheduler)
    secret = url.rsplit("/", 1)[1].removesuffix(".ics")
    token = FeedToken.objects.get(user=scheduler)
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in token.digest
    client.force_login(scheduler)
    page = client.get(reverse("invitations:feed_settings"))
    assert secret not in page.text
    assert "not shown again" in page.text


def test_a_revoked_or_unknown_secret_answers_a_plain_404(client, scheduler):
    url = _make_url(client, scheduler)
    client.force_login(scheduler)
    client.post(reverse("invitations:feed_settings"), {"action": "revoke"})
    client.logout()
    assert not FeedToken.objects.exists()
    other = reverse("invitations:feed", args=["x" * 43])
    revoked, unknown = client.get(url), client.get(other)
    assert revoked.status_code == unknown.status_code == 404
    # Nothing tells a revoked secret from one that never was (but the address asked for).
    assert "revoked" not in revoked.text.lower()
    assert revoked["Content-Type"] == unknown["Content-Type"]


def test_a_new_url_ends_the_old_one(client, scheduler):
    old = _make_url(client, scheduler)
    new = _make_url(client, scheduler)
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_a_deactivated_users_feed_stops(client, scheduler):
    url = _make_url(client, scheduler)
    scheduler.is_active = False
    scheduler.save()
    assert client.get(url).status_code == 404


def test_the_feed_page_needs_a_signed_in_user(client):
    response = client.get(reverse("invitations:feed_settings"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_user_menu_links_to_the_feed_page(client, auditor):
    client.force_login(auditor)
    assert reverse("invitations:feed_settings") in client.get(reverse("dashboard")).text
