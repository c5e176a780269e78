"""Tests for the dashboard: room cards, rooms not in sync and their retry, the latest history."""

import re
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from outbox.models import SyncState
from portal import audit
from rooms import selectors
from rooms.models import Room
from tests.outbox_rows import set_sync, split
from tests.rooms.factories import RoomFactory, UserFactory

DASHBOARD = reverse("dashboard")


def card(html: str, heading_id: str) -> str:
    """The markup of one dashboard card, found by its heading's id."""
    start = html.rindex("<section", 0, html.index(f'id="{heading_id}"'))
    return html[start : html.index("</section>", start)]


def room(title: str, start_hours: float, end_hours: float, **fields) -> Room:
    now = timezone.now()
    made = RoomFactory(
        title=title,
        valid_from=now + timedelta(hours=start_hours),
        valid_until=now + timedelta(hours=end_hours),
    )
    domain, sync = split(fields)
    if domain:
        # update(): the save signal would mark the room pending again.
        Room.objects.filter(pk=made.pk).update(**domain)
    if sync:
        set_sync(made, **sync)
    return made


@pytest.fixture
def signed_in(client, scheduler):
    client.force_login(scheduler)
    return client


def test_it_sends_a_visitor_to_sign_in(client, db):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_answers_post_with_405(signed_in):
    assert signed_in.post(DASHBOARD).status_code == 405


def test_it_shows_live_upcoming_and_recently_expired_rooms(signed_in):
    room("Live now", -1, 1)
    room("Tomorrow", 24, 25)
    room("In ten days", 240, 241)
    room("Ended yesterday", -26, -25)
    room("Ended last month", -24 * 30, -24 * 30 + 1)
    room("Deleted live", -1, 1, deleted_at=timezone.now())

    html = signed_in.get(DASHBOARD).content.decode()

    live, upcoming, expired = (
        card(html, h) for h in ["dash-live", "dash-upcoming", "dash-expired"]
    )
    assert "Live now" in live
    assert '<p class="stat">1</p>' in live
    assert "Tomorrow" in upcoming
    assert "In ten days" not in upcoming
    assert "Ended yesterday" in expired
    assert "Ended last month" not in expired
    assert "Deleted live" not in html


def test_it_shows_todays_rooms_in_the_users_zone(signed_in):
    signed_in.cookies["portal_tz"] = "Pacific/Auckland"
    zone = zoneinfo.ZoneInfo("Pacific/Auckland")
    today = timezone.now().astimezone(zone).date()
    midnight = datetime.combine(today, time.min, tzinfo=zone)
    for title, hours in [("Auckland lunch", 12), ("Auckland tomorrow", 36)]:
        RoomFactory(
            title=title,
            valid_from=midnight + timedelta(hours=hours),
            valid_until=midnight + timedelta(hours=hours + 1),
        )

    today_card = card(signed_in.get(DASHBOARD).content.decode(), "dash-today")

    assert "Auckland lunch" in today_card
    assert "Auckland tomorrow" not in today_card
    assert f"?day={today.isoformat()}&amp;state=any&amp;sort=valid_from" in today_card


def test_it_lists_rooms_not_in_sync_with_their_errors(signed_in):
    overdue = timezone.now() - timedelta(minutes=5)
    room("Refused", 1, 2, state=SyncState.STOPPED, last_error="400 Bad request: too long")
    room("Retrying", 1, 2, state=SyncState.FAILED, last_error="503 Service unavailable")
    room("Stuck", 1, 2, state=SyncState.PENDING, marked_at=overdue)
    room("Just queued", 1, 2, state=SyncState.PENDING, marked_at=timezone.now())
    room("Fine", 1, 2, state=SyncState.SYNCED)

    sync = card(signed_in.get(DASHBOARD).content.decode(), "dash-sync")

    for title in ["Refused", "Retrying", "Stuck", "400 Bad request: too long", "503 Service"]:
        assert title in sync
    assert "Just queued" not in sync
    assert "Fine" not in sync
    assert sync.count("Retry now") == 3


def test_it_posts_retry_to_the_rooms_retry_view(signed_in):
    failed = room("Retrying", 1, 2, state=SyncState.FAILED, last_error="timeout")

    sync = card(signed_in.get(DASHBOARD).content.decode(), "dash-sync")

    assert f'method="post" action="/rooms/{failed.pk}/retry/"' in sync
    assert 'name="csrfmiddlewaretoken"' in sync
    assert '<input type="hidden" name="next" value="/">' in sync


def test_it_shows_retry_only_to_users_who_may_change_rooms(client, auditor):
    room("Retrying", 1, 2, state=SyncState.FAILED, last_error="timeout")
    client.force_login(auditor)

    html = client.get(DASHBOARD).content.decode()

    assert "timeout" in card(html, "dash-sync")
    assert "Retry now" not in html
    assert 'href="/rooms/new/"' not in html
    assert 'method="post"' not in html.split("</header>", 1)[1]


def test_it_links_each_card_to_the_filtered_list(signed_in):
    html = signed_in.get(DASHBOARD).content.decode()

    for heading, query in [
        ("dash-live", "?state=live"),
        ("dash-today", "?day="),
        ("dash-upcoming", "?state=upcoming"),
        ("dash-expired", "?state=expired"),
        ("dash-sync", "?sync=attention"),
    ]:
        assert f'href="/rooms/{query}' in card(html, heading)


def test_todays_rooms_say_whether_they_are_live_upcoming_or_over(signed_in):
    room("Over this morning", -0.5, -0.25)
    room("On now", -0.25, 0.25)
    room("Soon", 0.25, 0.5)

    today = card(signed_in.get(DASHBOARD).content.decode(), "dash-today")

    for title, badge in [
        ("Over this morning", '<span class="badge badge-expired">Ended</span>'),
        ("On now", '<span class="badge badge-live">Live</span>'),
        ("Soon", '<span class="badge badge-upcoming">Upcoming</span>'),
    ]:
        if title in today:  # near midnight a room may fall on another day
            item = today[today.index(title) : today.index("</li>", today.index(title))]
            assert badge in item


def _count(client, href: str) -> int:
    html = client.get(href.replace("&amp;", "&")).content.decode()
    return int(re.search(r'<p class="result-count"><strong>(\d+) ', html)[1])


def test_each_card_counts_the_rooms_the_list_behind_its_link_holds(signed_in):
    room("Live now", -1, 1)
    room("Live till tomorrow", -2, 30)
    room("Later", 1, 2)
    room("Ended just now", -2, -0.01)
    room("Refused, ended", -3, -2, state=SyncState.STOPPED, last_error="400")
    room("Refused, later", 3, 4, state=SyncState.STOPPED, last_error="400")

    html = signed_in.get(DASHBOARD).content.decode()

    # Cards whose link lists exactly their rooms: the same definition of live, of today, of
    # out of sync, on both pages (ended rooms included where the card counts them).
    for heading in ("dash-live", "dash-today", "dash-sync"):
        section = card(html, heading)
        stat = re.search(r'<(?:p class="stat"|span class="badge[^"]*")>(\d+)<', section)[1]
        link = re.search(r'<p class="see-all"><a href="([^"]+)"', section)[1]
        assert _count(signed_in, link) == int(stat), heading
    # The upcoming and ended cards show the next and last 7 days; their lists hold every such
    # room, so each room a card shows is in its list.
    for heading, titles in [("dash-upcoming", ["Later"]), ("dash-expired", ["Ended just now"])]:
        section = card(html, heading)
        link = re.search(r'<p class="see-all"><a href="([^"]+)"', section)[1]
        listed = signed_in.get(link.replace("&amp;", "&")).content.decode()
        for title in titles:
            assert title in section and title in listed, heading


def test_a_card_past_the_count_cap_says_at_least_the_cap(signed_in, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    for n in range(3):
        room(f"Live {n}", -1, 1)

    html = signed_in.get(DASHBOARD).content.decode()

    assert '<p class="stat">2+</p>' in card(html, "dash-live")
    assert '<p class="stat">0</p>' in card(html, "dash-upcoming")


def test_it_shows_the_latest_history_and_links_to_it(signed_in, scheduler):
    made = room("Audited", 1, 2)
    audit.record(action="portal.room.created", actor=scheduler, target=made, room_id=made.pk)

    history = card(signed_in.get(DASHBOARD).content.decode(), "dash-history")

    assert '<ol class="timeline">' in history
    assert "Room created" in history
    assert "by sam.scheduler" in history
    assert 'href="/history/"' in history


def test_it_explains_why_a_user_without_view_room_sees_no_rooms(client, db):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    room("Hidden", -1, 1)
    client.force_login(user)

    response = client.get(DASHBOARD)

    html = response.content.decode()
    assert response.status_code == 200
    assert "rooms.view_room" in html
    assert "Hidden" not in html
    assert 'id="dash-live"' not in html
    assert 'id="dash-history"' in html


def test_it_hides_the_history_from_a_user_without_view_auditevent(client, db):
    client.force_login(UserFactory())

    html = client.get(DASHBOARD).content.decode()

    assert 'id="dash-history"' not in html
    assert 'href="/history/"' not in html


def test_it_uses_the_same_number_of_queries_however_many_rooms(signed_in, scheduler):
    def seed(count):
        for n in range(count):
            for start, end in [(-1, 1), (2, 3), (-3, -2)]:
                made = room(f"Room {n}", start, end)
                audit.record(action="portal.room.created", actor=scheduler, target=made)
            room(f"Broken {n}", 1, 2, state=SyncState.FAILED, last_error="503")

    seed(1)
    with CaptureQueriesContext(connection) as few:
        signed_in.get(DASHBOARD)
    seed(20)
    with CaptureQueriesContext(connection) as many:
        html = signed_in.get(DASHBOARD).content.decode()

    assert html.count("Retry now") == 10
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 10
