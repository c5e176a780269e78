"""Tests for the rooms list and the week calendar pages."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from outbox.models import SyncState
from rooms import selectors
from rooms.models import Room
from tests.identities.factories import IdentityFactory
from tests.outbox_rows import set_sync
from tests.rooms.factories import ParticipantFactory, RoomFactory, UserFactory

LIST = reverse("rooms:list")
CALENDAR = reverse("rooms:calendar")
HX = {"HX-Request": "true"}


def rows(response) -> list[str]:
    """The titles in the list's table, in order."""
    html = response.content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r'<td[^>]*><a href="/rooms/\d+/">([^<]+)</a>', body)


def day_html(response, day: date) -> str:
    """The markup of one day's column in the calendar."""
    html = response.content.decode()
    start = html.index(f'id="day-{day.isoformat()}"')
    return html[start : html.index("</section>", start)]


@pytest.fixture
def signed_in(client, scheduler):
    client.force_login(scheduler)
    return client


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("url", [LIST, CALENDAR])
def test_it_sends_a_visitor_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url", [LIST, CALENDAR])
def test_it_refuses_a_user_without_view_room_naming_the_permission(client, db, url):
    client.force_login(UserFactory())

    response = client.get(url)

    assert response.status_code == 403
    assert "rooms.view_room" in response.content.decode()


@pytest.mark.parametrize("url", [LIST, CALENDAR])
def test_it_answers_post_with_405(signed_in, url):
    assert signed_in.post(url).status_code == 405


# --------------------------------------------------------------------------- rooms list


def test_it_lists_rooms_with_window_state_count_owner_and_sync(signed_in):
    owner = UserFactory(username="olga", first_name="Olga", last_name="Owner")
    live = RoomFactory(
        title="Live room",
        owner=owner,
        valid_from=timezone.now() - timedelta(hours=1),
        valid_until=timezone.now() + timedelta(hours=1),
    )
    ParticipantFactory.create_batch(2, room=live)

    response = signed_in.get(LIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Rooms" in html
    assert f'<a href="/rooms/{live.pk}/">Live room</a>' in html
    assert '<span class="badge badge-live">Live</span>' in html
    assert re.search(r'<td class="num"[^>]*>2</td>', html)
    assert "Olga Owner" in html
    assert "badge-pending" in html  # the sync badge partial
    assert "1 live or upcoming room</strong>" in html


@pytest.mark.parametrize("query", ["budget", "ACS-777", "Grace", "grace@navy.example"])
def test_it_finds_a_room_by_title_acs_id_participant_name_or_email(signed_in, query):
    room = RoomFactory(title="Budget meeting", acs_id="acs-777-xyz")
    ParticipantFactory(
        room=room, identity=IdentityFactory(display_name="Grace Hopper", email="grace@navy.example")
    )
    ParticipantFactory(
        room=room, identity=IdentityFactory(display_name="Grace Two", email="two@navy.example")
    )
    RoomFactory(title="Other")

    response = signed_in.get(LIST, {"q": query})

    assert rows(response) == ["Budget meeting"]


def test_it_hides_deleted_rooms(signed_in):
    RoomFactory(title="Visible")
    Room.objects.filter(pk=RoomFactory(title="Deleted").pk).update(deleted_at=timezone.now())

    assert rows(signed_in.get(LIST)) == ["Visible"]


def test_it_filters_by_state_sync_and_owner(signed_in):
    now = timezone.now()
    ada = UserFactory(username="ada")
    RoomFactory(title="Ada live", owner=ada, valid_from=now - timedelta(hours=1))
    RoomFactory(title="Ada later", owner=ada)
    failed = RoomFactory(title="Failed live", valid_from=now - timedelta(hours=1))
    set_sync(failed, state=SyncState.FAILED, last_error="503")

    assert sorted(rows(signed_in.get(LIST, {"state": "live"}))) == ["Ada live", "Failed live"]
    assert rows(signed_in.get(LIST, {"state": "live", "owner": ada.pk})) == ["Ada live"]
    assert rows(signed_in.get(LIST, {"sync": "failed"})) == ["Failed live"]
    assert rows(signed_in.get(LIST, {"sync": "attention"})) == ["Failed live"]


def test_it_offers_only_owners_of_rooms_in_the_owner_filter(signed_in):
    RoomFactory(owner=UserFactory(username="has.rooms"))
    UserFactory(username="no.rooms")

    html = signed_in.get(LIST).content.decode()

    assert ">has.rooms</option>" in html
    assert "no.rooms" not in html


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("31/02", "Enter a valid date."),
        ("9999-12-31", "Enter a date between the years 2 and 9998."),
    ],
)
def test_it_ignores_filter_values_it_cannot_read_and_says_so(signed_in, day, message):
    RoomFactory(title="Any")

    response = signed_in.get(LIST, {"state": "sideways", "owner": "x", "day": day, "sort": "?"})

    assert response.status_code == 200
    assert rows(response) == ["Any"]
    assert message in response.content.decode()


def test_it_sorts_by_the_column_asked_and_links_the_reverse_order(signed_in):
    for title in ["beta", "Alpha", "gamma"]:
        RoomFactory(title=title)

    ascending = signed_in.get(LIST, {"sort": "title"})
    descending = signed_in.get(LIST, {"sort": "-title"})

    assert rows(ascending) == ["Alpha", "beta", "gamma"]
    assert rows(descending) == ["gamma", "beta", "Alpha"]
    html = ascending.content.decode()
    assert 'aria-sort="ascending"><a id="sort-title" href="/rooms/?sort=-title"' in html
    assert 'hx-get="/rooms/?sort=-title"' in html


def test_it_keeps_filters_in_sort_and_page_links(signed_in):
    for n in range(30):
        RoomFactory(title=f"Standup {n}")

    html = signed_in.get(LIST, {"q": "standup", "state": "upcoming", "page": "2"}).content.decode()

    # Sorting starts again from the first page; paging keeps the search and the filter.
    assert 'href="/rooms/?q=standup&amp;state=upcoming&amp;sort=title"' in html
    assert 'href="/rooms/?q=standup&amp;state=upcoming&amp;page=1"' in html
    assert 'value="standup"' in html


def test_it_pages_25_rooms_at_a_time_and_shows_the_last_page_past_the_end(signed_in):
    start = timezone.now() + timedelta(days=1)
    for n in range(30):
        RoomFactory(title=f"Room {n:02}", valid_from=start + timedelta(minutes=n))

    first = signed_in.get(LIST, {"sort": "valid_from"})
    second = signed_in.get(LIST, {"sort": "valid_from", "page": "2"})
    beyond = signed_in.get(LIST, {"sort": "valid_from", "page": "40"})

    assert rows(first) == [f"Room {n:02}" for n in range(25)]
    assert rows(second) == [f"Room {n:02}" for n in range(25, 30)]
    assert rows(beyond) == rows(second)
    assert "Page 2 of 2" in beyond.content.decode()
    assert "30 live or upcoming rooms</strong>" in first.content.decode()


def test_a_large_result_says_more_than_the_cap_and_pages_without_a_last_link(
    signed_in, monkeypatch
):
    monkeypatch.setattr(selectors, "COUNT_CAP", 4)
    monkeypatch.setattr(selectors, "PER_PAGE", 2)
    start = timezone.now() + timedelta(days=1)
    for n in range(7):
        RoomFactory(title=f"Room {n}", valid_from=start + timedelta(minutes=n))

    first = signed_in.get(LIST, {"sort": "valid_from"})
    third = signed_in.get(LIST, {"sort": "valid_from", "page": "3"})
    last = signed_in.get(LIST, {"sort": "valid_from", "page": "4"})

    html = first.content.decode()
    assert "More than 4 live or upcoming rooms</strong>" in html
    assert "Page 1 · rooms 1–2" in html
    assert 'id="page-next"' in html and 'id="page-last"' not in html
    # Further on the count reaches as far as the page asked: still more, still no last page.
    html = third.content.decode()
    assert rows(third) == ["Room 4", "Room 5"]
    assert "More than 6 live or upcoming rooms</strong>" in html
    assert 'href="/rooms/?sort=valid_from&amp;page=4"' in html
    assert 'id="page-last"' not in html
    # The last page counts every room: the total is exact again.
    html = last.content.decode()
    assert rows(last) == ["Room 6"]
    assert "7 live or upcoming rooms</strong>" in html and "Page 4 of 4" in html
    assert 'id="page-next"' not in html


def test_an_exactly_counted_list_links_to_its_last_page(signed_in, monkeypatch):
    monkeypatch.setattr(selectors, "PER_PAGE", 2)
    for n in range(5):
        RoomFactory(title=f"Room {n}")

    html = signed_in.get(LIST).content.decode()

    assert "5 live or upcoming rooms</strong>" in html
    assert "Page 1 of 3" in html
    assert 'href="/rooms/?page=3" hx-get="/rooms/?page=3">Last »</a>' in html


def test_it_renders_only_the_results_for_an_htmx_request(signed_in):
    RoomFactory(title="Only results")

    response = signed_in.get(LIST, {"q": "only"}, headers=HX)

    html = response.content.decode()
    assert "<html" not in html
    assert 'id="room-filters"' not in html
    assert html.lstrip().startswith('<div id="room-results"')
    assert rows(response) == ["Only results"]


def test_it_renders_the_whole_page_for_a_boosted_request(signed_in):
    response = signed_in.get(LIST, headers={**HX, "HX-Boosted": "true"})

    assert "<html" in response.content.decode()


def test_it_wires_filters_sorting_and_paging_for_htmx_with_real_links(signed_in):
    for n in range(26):
        RoomFactory(title=f"Room {n}")

    html = signed_in.get(LIST).content.decode()

    form = html[
        html.index('<form id="room-filters"') : html.index("</form>", html.index("room-filters"))
    ]
    assert 'method="get" action="/rooms/"' in form
    assert 'hx-get="/rooms/"' in form
    assert 'hx-push-url="true"' in form
    assert 'hx-target="#room-results"' in form
    assert 'type="search"' in form
    assert '<button type="submit"' in form
    results = html[html.index('<div id="room-results"') :]
    assert 'hx-push-url="true"' in results.split(">", 1)[0]
    assert 'href="/rooms/?page=2" hx-get="/rooms/?page=2"' in results
    # The list's own order needs no parameter; a chosen sort travels with the filter form, so a
    # new search keeps the order.
    assert 'name="sort"' not in results
    chosen = signed_in.get(LIST, {"sort": "-valid_from"}).content.decode()
    assert '<input type="hidden" name="sort" value="-valid_from" form="room-filters">' in chosen


def test_it_explains_an_empty_result_with_a_way_back(signed_in):
    RoomFactory(title="Something")

    html = signed_in.get(LIST, {"q": "nothing like it"}).content.decode()

    assert "No live or upcoming rooms match these filters." in html
    assert '<a href="/rooms/">Clear the filters</a>' in html
    assert "0 live or upcoming rooms</strong>" in html
    # Ended rooms are one click away, with the search kept.
    assert 'href="/rooms/?q=nothing+like+it&amp;state=any">look among ended rooms too</a>' in html


def test_it_opens_on_the_rooms_that_matter_now_and_keeps_ended_ones_behind_the_filter(signed_in):
    now = timezone.now()
    for title, start, end in [
        ("Next month", 24 * 30, 24 * 30 + 1),
        ("Ended yesterday", -25, -24),
        ("Tomorrow", 24, 25),
        ("Live, ends in 3 h", -1, 3),
        ("Ended an hour ago", -2, -1),
        ("Live, ends in 1 h", -1, 1),
    ]:
        RoomFactory(
            title=title,
            valid_from=now + timedelta(hours=start),
            valid_until=now + timedelta(hours=end),
        )

    default = signed_in.get(LIST)
    ended = signed_in.get(LIST, {"state": "expired"})

    assert rows(default) == ["Live, ends in 1 h", "Live, ends in 3 h", "Tomorrow", "Next month"]
    assert rows(ended) == ["Ended an hour ago", "Ended yesterday"]
    html = default.content.decode()
    assert "Live rooms first, soonest ending; then upcoming rooms, soonest starting." in html
    assert 'id="show-ended" href="/rooms/?state=any"' in html
    assert "Most recently ended first." in ended.content.decode()
    # No column claims the default order; a click sorts by the column.
    assert 'aria-sort="ascending"' not in html and 'aria-sort="descending"' not in html
    assert rows(signed_in.get(LIST, {"sort": "title"})) == [
        "Live, ends in 1 h",
        "Live, ends in 3 h",
        "Next month",
        "Tomorrow",
    ]


def test_the_window_filter_offers_live_and_upcoming_first_and_any_time_last(signed_in):
    html = signed_in.get(LIST).content.decode()
    select = html[html.index('name="state"') : html.index("</select>", html.index('name="state"'))]

    assert re.findall(r'<option value="([^"]*)"', select) == [
        "",
        "live",
        "upcoming",
        "expired",
        "any",
    ]
    assert '<option value="" selected>Live and upcoming</option>' in select
    assert ">Ended</option>" in select and ">Any time</option>" in select


def test_an_empty_default_list_points_to_the_ended_rooms(signed_in):
    RoomFactory(
        title="Over",
        valid_from=timezone.now() - timedelta(hours=2),
        valid_until=timezone.now() - timedelta(hours=1),
    )

    html = signed_in.get(LIST).content.decode()

    assert "No room is live or upcoming." in html
    assert '<a href="/rooms/?state=any">see the rooms that have ended</a>' in html
    assert rows(signed_in.get(LIST, {"state": "any"})) == ["Over"]


def test_it_shows_new_room_only_to_users_who_may_add_rooms(client, scheduler, auditor):
    client.force_login(scheduler)
    assert 'href="/rooms/new/"' in client.get(LIST).content.decode()

    client.force_login(auditor)
    html = client.get(LIST).content.decode()
    assert 'href="/rooms/new/"' not in html
    assert 'method="post"' not in html.split("</header>", 1)[1]


def _seed(rooms: int) -> None:
    for n in range(rooms):
        room = RoomFactory(title=f"Standup {n}", owner=UserFactory(username=f"owner{n % 7}"))
        ParticipantFactory.create_batch(2, room=room)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "standup", "state": "upcoming", "sync": "pending", "sort": "title"},
        {"q": "person", "sort": "-created_at", "page": "2"},
        {"day": (timezone.now() + timedelta(hours=1)).date().isoformat(), "owner": ""},
    ],
)
def test_it_uses_the_same_number_of_queries_for_10_rooms_as_for_60(signed_in, params):
    _seed(10)
    with CaptureQueriesContext(connection) as small:
        assert signed_in.get(LIST, params).status_code == 200
    _seed(50)
    with CaptureQueriesContext(connection) as large:
        response = signed_in.get(LIST, params)

    assert len(rows(response)) == 25
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large.captured_queries) <= 10


# --------------------------------------------------------------------------- week calendar


def test_it_places_rooms_on_their_days_in_the_users_zone(signed_in):
    signed_in.cookies["portal_tz"] = "Pacific/Auckland"
    morning = RoomFactory(
        title="Auckland morning",
        valid_from=datetime(2025, 6, 10, 20, 0, tzinfo=UTC),  # Wed 11 Jun 08:00 NZST
        valid_until=datetime(2025, 6, 10, 22, 0, tzinfo=UTC),
    )
    RoomFactory(
        title="Overnight",
        valid_from=datetime(2025, 6, 12, 10, 0, tzinfo=UTC),  # Thu 22:00 to Fri 02:00 NZST
        valid_until=datetime(2025, 6, 12, 14, 0, tzinfo=UTC),
    )

    response = signed_in.get(CALENDAR, {"week": "2025-06-11"})

    html = response.content.decode()
    assert "Week of 9 June 2025" in html
    assert "Pacific/Auckland" in html
    wednesday = day_html(response, date(2025, 6, 11))
    assert f'href="/rooms/{morning.pk}/"' in wednesday
    assert "08:00 NZST" in wednesday
    assert "10:00 NZST" in wednesday
    assert "Auckland morning" not in day_html(response, date(2025, 6, 10))
    thursday, friday = day_html(response, date(2025, 6, 12)), day_html(response, date(2025, 6, 13))
    assert "Overnight" in thursday
    assert "22:00 NZST" in thursday
    assert "continues ▸" in thursday
    assert "Overnight" in friday
    assert "◂ continued" in friday
    assert "02:00 NZST" in friday


def test_it_shows_a_week_in_new_york_in_new_york_time(signed_in):
    signed_in.cookies["portal_tz"] = "America/New_York"
    RoomFactory(
        title="Late call",
        valid_from=datetime(2025, 3, 10, 3, 30, tzinfo=UTC),  # Sun 9 Mar 23:30 EDT
        valid_until=datetime(2025, 3, 10, 3, 50, tzinfo=UTC),
    )

    response = signed_in.get(CALENDAR, {"week": "2025-03-09"})

    assert "Week of 3 March 2025" in response.content.decode()
    assert "Late call" in day_html(response, date(2025, 3, 9))
    assert "23:30 EDT" in day_html(response, date(2025, 3, 9))


def test_it_links_the_previous_this_and_next_week(signed_in):
    response = signed_in.get(CALENDAR, {"week": "2025-06-11"})

    html = response.content.decode()
    for week in ["2025-06-02", "2025-06-16"]:
        assert f'href="/rooms/calendar/?week={week}" hx-get="/rooms/calendar/?week={week}"' in html
    this_week = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    assert f'href="/rooms/calendar/?week={this_week.isoformat()}"' in html
    assert 'hx-push-url="true"' in html


def test_it_highlights_today(signed_in):
    html = signed_in.get(CALENDAR).content.decode()

    today = timezone.localdate().isoformat()
    assert re.search(r'class="day today"[^>]*aria-labelledby="day-' + today, html)
    assert html.count("day today") == 1


@pytest.mark.parametrize("week", ["garbage", "2025-13-45", "0001-01-01", "9999-12-31"])
def test_it_shows_this_week_for_a_week_it_cannot_read(signed_in, week):
    response = signed_in.get(CALENDAR, {"week": week})

    assert response.status_code == 200
    html = response.content.decode()
    assert "is not a date" in html
    assert "day today" in html


def test_it_renders_only_the_week_for_an_htmx_request(signed_in):
    response = signed_in.get(CALENDAR, {"week": "2025-06-11"}, headers=HX)

    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="week"')
    assert "Week of 9 June 2025" in html


def test_it_caps_a_busy_day_and_links_the_rest_to_the_list(signed_in):
    for n in range(14):
        RoomFactory(
            title=f"Slot {n:02}",
            valid_from=datetime(2025, 6, 11, 8, n, tzinfo=UTC),
            valid_until=datetime(2025, 6, 11, 9, 0, tzinfo=UTC),
        )

    response = signed_in.get(CALENDAR, {"week": "2025-06-11"})

    wednesday = day_html(response, date(2025, 6, 11))
    assert wednesday.count('<a class="event') == 12
    assert 'href="/rooms/?day=2025-06-11&amp;state=any&amp;sort=valid_from">+2 more' in wednesday
    # The link's list holds exactly that day's rooms, ended ones too.
    listed = signed_in.get(LIST, {"day": "2025-06-11", "state": "any", "sort": "valid_from"})
    assert len(rows(listed)) == 14


def test_it_marks_ended_rooms_as_ended_and_only_those(signed_in):
    now = timezone.now()
    expected = {"Over": ("Ended", True), "Now": ("Live", False), "Later": ("Upcoming", False)}
    for title, start, end in [("Over", -3, -2), ("Now", -1, 1), ("Later", 2, 3)]:
        room = RoomFactory(
            title=title,
            valid_from=now + timedelta(hours=start),
            valid_until=now + timedelta(hours=end),
        )
        # The week the room starts in, whatever day of the week the test runs on.
        week = timezone.localdate(room.valid_from).isoformat()
        html = signed_in.get(CALENDAR, {"week": week}).content.decode()
        classes, label = re.search(
            rf'<a class="event([^"]*)"[^>]*>(?:(?!</a>).)*<span class="event-title">{title}</span>'
            r'<span class="visually-hidden"> \((\w+)\)</span>',
            html,
            re.S,
        ).groups()
        assert (label, "event-past" in classes) == expected[title]


def test_it_uses_the_same_number_of_queries_for_a_quiet_and_a_busy_week(signed_in):
    def seed(count):
        for n in range(count):
            RoomFactory(
                valid_from=datetime(2025, 6, 9, 8, tzinfo=UTC) + timedelta(hours=5 * n),
                valid_until=datetime(2025, 6, 9, 10, tzinfo=UTC) + timedelta(hours=5 * n),
            )

    seed(2)
    with CaptureQueriesContext(connection) as quiet:
        signed_in.get(CALENDAR, {"week": "2025-06-11"})
    seed(40)
    with CaptureQueriesContext(connection) as busy:
        signed_in.get(CALENDAR, {"week": "2025-06-11"})

    assert len(busy.captured_queries) == len(quiet.captured_queries)


def test_it_shows_the_auditor_the_calendar_without_write_buttons(client, auditor):
    RoomFactory(title="Read only", valid_from=timezone.now() - timedelta(minutes=1))
    client.force_login(auditor)

    html = client.get(CALENDAR).content.decode()

    assert "Read only" in html
    assert 'href="/rooms/new/"' not in html
    assert 'method="post"' not in html.split("</header>", 1)[1]
