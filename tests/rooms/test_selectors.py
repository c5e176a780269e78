"""Tests for the read queries behind the rooms list, the week calendar and the dashboard."""

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outbox.models import SyncState
from rooms import selectors
from rooms.models import Room
from rooms.rules import WindowState
from rooms.selectors import (
    ANY_TIME,
    DEFAULT_SORT,
    NEEDS_ATTENTION,
    PER_PAGE,
    RoomFilters,
    dashboard_rooms,
    parse_sort,
    room_list,
    room_owners,
    room_page,
    week_calendar,
)
from tests.identities.factories import IdentityFactory
from tests.outbox_rows import set_sync, split
from tests.rooms.factories import ParticipantFactory, RoomFactory, UserFactory

NOW = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def room(title="Room", start=1, end=3, **fields) -> Room:
    """A room from `start` to `end` hours after NOW, with sync fields set as given."""
    made = RoomFactory(title=title, valid_from=at(start), valid_until=at(end))
    domain, sync = split(fields)
    if domain:
        # update(): the save signal would mark the room pending again.
        Room.objects.filter(pk=made.pk).update(**domain)
    if sync:
        set_sync(made, **sync)
    return made


def listed(user, **filters) -> list[str]:
    """The titles the list shows, in its order, with exactly these filters."""
    return [r.title for r in room_list(user=user, filters=RoomFilters(**filters), now=NOW)]


def titles(user, **filters) -> list[str]:
    """Like listed(), among every room (ended ones too) unless a Window filter is given: the
    tests of search, filters and column sorts are not about the default window."""
    filters.setdefault("state", ANY_TIME)
    return listed(user, **filters)


# --------------------------------------------------------------------------- searching


@pytest.fixture(params=["narrow", "broad"])
def search_shape(request, monkeypatch):
    """Both ways a search is written (selectors._matches): a term naming few people lists their
    rooms first; one naming more than MANY_PEOPLE tests each room the list reaches."""
    if request.param == "broad":
        monkeypatch.setattr(selectors, "MANY_PEOPLE", 0)
    return request.param


@pytest.mark.parametrize(
    "query", ["quarterly", "QUARTERLY", "abc-123", "Ada Love", "ada@example.org", "EXAMPLE.ORG"]
)
def test_it_finds_a_room_by_title_acs_id_participant_name_or_email_once(
    scheduler, query, search_shape
):
    found = room("Quarterly review", acs_id="abc-123-def")
    ParticipantFactory(
        room=found, identity=IdentityFactory(display_name="Ada Lovelace", email="ada@example.org")
    )
    # A second matching participant must not list the room twice.
    ParticipantFactory(
        room=found, identity=IdentityFactory(display_name="Ada Love", email="love@example.org")
    )
    room("Unrelated")

    assert titles(scheduler, q=query) == ["Quarterly review"]
    page = room_page(
        user=scheduler, filters=RoomFilters(q=query, state=ANY_TIME), number=1, now=NOW
    )
    assert [r.title for r in page.object_list] == ["Quarterly review"]
    assert page.paginator.count == 1


def test_a_search_page_lists_its_matches_in_the_lists_order(scheduler, search_shape):
    """The page of a search, both shapes: live first (soonest end), then upcoming, then ended."""
    ada = IdentityFactory(display_name="Ada Lovelace", email="ada@example.org")
    for title, start, end in [
        ("Ended", -5, -1),
        ("Upcoming later", 8, 9),
        ("Live", -1, 2),
        ("Upcoming", 4, 5),
        ("Other", -1, 1),
    ]:
        made = room(title, start=start, end=end)
        if title != "Other":
            ParticipantFactory(room=made, identity=ada)
    room("Ada's own title", start=6, end=7)

    page = room_page(
        user=scheduler, filters=RoomFilters(q="ada", state=ANY_TIME), number=1, now=NOW
    )

    assert [r.title for r in page.object_list] == [
        "Live",
        "Upcoming",
        "Ada's own title",
        "Upcoming later",
        "Ended",
    ]


def test_it_hides_deleted_rooms(scheduler):
    room("Kept")
    room("Gone", deleted_at=NOW)

    assert titles(scheduler) == ["Kept"]
    assert titles(scheduler, q="Gone") == []


def test_it_shows_nothing_to_a_user_who_may_not_view_rooms(db):
    room("Secret")

    assert titles(UserFactory()) == []
    assert titles(AnonymousUser()) == []


# --------------------------------------------------------------------------- filtering


def test_it_filters_by_window_state_relative_to_now(scheduler):
    room("Live", start=-1, end=1)
    room("Starts exactly now", start=0, end=1)
    room("Upcoming", start=1, end=2)
    room("Expired", start=-3, end=-1)
    room("Ended exactly now", start=-2, end=0)

    assert sorted(titles(scheduler, state="live")) == ["Live", "Starts exactly now"]
    assert titles(scheduler, state="upcoming") == ["Upcoming"]
    assert sorted(titles(scheduler, state="expired")) == ["Ended exactly now", "Expired"]


def test_it_filters_by_sync_state(scheduler):
    room("Synced", state=SyncState.SYNCED)
    room("Failed", state=SyncState.FAILED)
    room("Pending", state=SyncState.PENDING, marked_at=NOW)

    assert titles(scheduler, sync="failed") == ["Failed"]
    assert titles(scheduler, sync="synced") == ["Synced"]


def test_it_filters_rooms_needing_attention(scheduler):
    room("Failed", state=SyncState.FAILED)
    room("Stopped", state=SyncState.STOPPED)
    room("Overdue", state=SyncState.PENDING, marked_at=NOW - timedelta(minutes=2))
    room("Just queued", state=SyncState.PENDING, marked_at=NOW - timedelta(seconds=20))
    room("Synced", state=SyncState.SYNCED)

    assert sorted(titles(scheduler, sync=NEEDS_ATTENTION)) == ["Failed", "Overdue", "Stopped"]


def test_it_filters_by_owner_and_lists_only_owners_of_live_rooms(scheduler):
    ada, bob, gone = UserFactory(username="ada"), UserFactory(username="bob"), UserFactory()
    RoomFactory(title="Ada's", owner=ada)
    RoomFactory(title="Bob's", owner=bob)
    Room.objects.filter(pk=RoomFactory(owner=gone).pk).update(deleted_at=NOW)

    assert titles(scheduler, owner=ada.pk) == ["Ada's"]
    assert list(room_owners()) == [ada, bob]


def test_it_filters_rooms_valid_on_a_day_in_the_users_zone(scheduler):
    # 2025-06-10 20:00 UTC is already Wednesday 11 June in Auckland (UTC+12).
    RoomFactory(
        title="Auckland morning",
        valid_from=datetime(2025, 6, 10, 20, 0, tzinfo=UTC),
        valid_until=datetime(2025, 6, 10, 22, 0, tzinfo=UTC),
    )
    with timezone.override(zoneinfo.ZoneInfo("Pacific/Auckland")):
        assert titles(scheduler, day=date(2025, 6, 11)) == ["Auckland morning"]
        assert titles(scheduler, day=date(2025, 6, 10)) == []
    assert titles(scheduler, day=date(2025, 6, 10)) == ["Auckland morning"]


def test_it_combines_search_and_filters(scheduler):
    room("Standup live", start=-1, end=1, state=SyncState.SYNCED)
    room("Standup later", start=1, end=2, state=SyncState.SYNCED)
    room("Retro live", start=-1, end=1, state=SyncState.SYNCED)

    assert titles(scheduler, q="standup", state="live", sync="synced") == ["Standup live"]


# --------------------------------------------------------------------------- sorting


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["alpha", "Bravo", "charlie"]),
        ("-title", ["charlie", "Bravo", "alpha"]),
        ("valid_from", ["Bravo", "charlie", "alpha"]),
        ("-valid_from", ["alpha", "charlie", "Bravo"]),
        ("valid_until", ["charlie", "Bravo", "alpha"]),
        ("-valid_until", ["alpha", "Bravo", "charlie"]),
        ("sync_state", ["charlie", "alpha", "Bravo"]),
        ("-sync_state", ["Bravo", "alpha", "charlie"]),
    ],
)
def test_it_sorts_by_each_column_both_ways(scheduler, sort, expected):
    room("alpha", start=5, end=9, state=SyncState.PENDING)
    room("Bravo", start=1, end=6, state=SyncState.SYNCED)
    room("charlie", start=2, end=3, state=SyncState.FAILED)

    assert titles(scheduler, sort=sort) == expected


def test_it_sorts_by_creation(scheduler):
    first, second = room("First"), room("Second")
    Room.objects.filter(pk=first.pk).update(created_at=NOW - timedelta(days=2))
    Room.objects.filter(pk=second.pk).update(created_at=NOW - timedelta(days=1))

    assert titles(scheduler, sort="created_at") == ["First", "Second"]
    assert titles(scheduler, sort="-created_at") == ["Second", "First"]


@pytest.mark.parametrize(
    "sort", ["", None, "owner", "-password", "--title", "participant_count", "-now"]
)
def test_it_falls_back_to_the_default_sort_for_unknown_values(sort):
    assert parse_sort(sort) == DEFAULT_SORT == "now"


# --------------------------------------------------------------------------- the default order


def _a_week_of_rooms() -> None:
    """Rooms around NOW, made in an order that matches none of the orders tested."""
    room("Upcoming tomorrow", start=24, end=25)
    room("Ended an hour ago", start=-3, end=-1)
    room("Live, ends in 5 h", start=-1, end=5)
    room("Upcoming in 2 h", start=2, end=3)
    room("Ended last week", start=-24 * 7, end=-24 * 7 + 1)
    room("Live, ends in 1 h", start=-2, end=1)
    room("Upcoming in a month", start=24 * 30, end=24 * 30 + 1)


def test_the_default_list_shows_live_rooms_ending_first_then_upcoming_starting_first(scheduler):
    _a_week_of_rooms()

    assert listed(scheduler) == [
        "Live, ends in 1 h",
        "Live, ends in 5 h",
        "Upcoming in 2 h",
        "Upcoming tomorrow",
        "Upcoming in a month",
    ]


def test_ended_rooms_are_behind_the_window_filter_most_recently_ended_first(scheduler):
    _a_week_of_rooms()

    assert listed(scheduler, state=WindowState.ENDED) == ["Ended an hour ago", "Ended last week"]
    assert listed(scheduler, state=WindowState.LIVE) == ["Live, ends in 1 h", "Live, ends in 5 h"]
    assert listed(scheduler, state=WindowState.UPCOMING) == [
        "Upcoming in 2 h",
        "Upcoming tomorrow",
        "Upcoming in a month",
    ]


def test_any_time_lists_live_then_upcoming_then_ended_rooms(scheduler):
    _a_week_of_rooms()

    assert listed(scheduler, state=ANY_TIME) == [
        "Live, ends in 1 h",
        "Live, ends in 5 h",
        "Upcoming in 2 h",
        "Upcoming tomorrow",
        "Upcoming in a month",
        "Ended an hour ago",
        "Ended last week",
    ]


def test_the_default_order_breaks_ties_by_id(scheduler):
    first, second = room("Second", start=-1, end=1), room("First", start=-1, end=1)

    assert listed(scheduler) == ["Second", "First"]
    assert first.pk < second.pk


def test_a_clicked_column_sort_replaces_the_default_order_and_keeps_ended_rooms_out(scheduler):
    _a_week_of_rooms()

    assert listed(scheduler, sort="-valid_from") == [
        "Upcoming in a month",
        "Upcoming tomorrow",
        "Upcoming in 2 h",
        "Live, ends in 5 h",  # started an hour ago
        "Live, ends in 1 h",  # started two hours ago
    ]


def test_the_default_order_pages_in_two_queries_as_the_list_returns_it(scheduler):
    for n in range(PER_PAGE + 5):
        room(f"Room {n}", start=(n % 7) - 3, end=(n % 7) + 1 + n % 3)
    assert scheduler.has_perm("rooms.view_room")  # loads the permissions before counting
    everything = [r.pk for r in room_list(user=scheduler, filters=RoomFilters(), now=NOW)]

    with CaptureQueriesContext(connection) as queries:
        pages = [
            room_page(user=scheduler, filters=RoomFilters(), number=number, now=NOW)
            for number in (1, 2)
        ]
        paged = [r.pk for page in pages for r in page.object_list]

    assert paged == everything
    assert len(queries.captured_queries) == 4  # a COUNT and a page, per page


# --------------------------------------------------------------------------- counting and paging


def test_it_counts_each_rooms_participants(scheduler):
    crowded, empty = room("Crowded"), room("Empty", start=2)
    ParticipantFactory.create_batch(3, room=crowded)

    counts = {
        r.title: r.participant_count
        for r in room_list(user=scheduler, filters=RoomFilters(), now=NOW)
    }
    assert counts == {"Crowded": 3, "Empty": 0}
    assert empty.pk


def test_it_pages_in_three_queries_counting_without_the_per_row_columns(scheduler):
    for n in range(PER_PAGE + 3):
        ParticipantFactory(room=room(f"Room {n}", start=n + 1, end=n + 2))
    filters = RoomFilters(q="room", state="upcoming", sort="valid_from")
    assert scheduler.has_perm("rooms.view_room")  # loads the permissions before counting

    with CaptureQueriesContext(connection) as queries:
        page = room_page(user=scheduler, filters=filters, number=2, now=NOW)
        shown = [(r.title, r.participant_count, r.owner.username) for r in page.object_list]

    assert page.paginator.count == PER_PAGE + 3
    assert [title for title, _, _ in shown] == [f"Room {n}" for n in range(PER_PAGE, PER_PAGE + 3)]
    assert {count for _, count, _ in shown} == {1}
    # How many people the term names (LIMITed), the capped count, the page.
    people_sql, count_sql, page_sql = (q["sql"] for q in queries.captured_queries)
    assert "identities_identity" in people_sql and "LIMIT" in people_sql.upper()
    # The count carries the search's subquery but neither the participant count nor the join.
    assert count_sql.upper().startswith("SELECT COUNT(")
    assert count_sql.count("rooms_participant") == 1
    assert "auth_user" not in count_sql
    assert page_sql.count("rooms_participant") == 2


def test_it_pages_the_same_rooms_room_list_returns(scheduler):
    for n in range(PER_PAGE * 2 + 1):
        room(f"Room {n % 4}", start=n % 3 + 1, end=5)
    filters = RoomFilters(sort="-title")
    everything = [r.pk for r in room_list(user=scheduler, filters=filters, now=NOW)]

    paged = [
        r.pk
        for number in (1, 2, 3)
        for r in room_page(user=scheduler, filters=filters, number=number, now=NOW).object_list
    ]

    assert paged == everything


@pytest.mark.parametrize("state", ["", ANY_TIME, "live", "expired"])
def test_the_default_order_pages_the_same_rooms_room_list_returns(scheduler, monkeypatch, state):
    # Pages within the cap come from each window state's first rooms, deeper ones from the
    # whole sort: both give room_list()'s order, ties (equal times) broken by the pk.
    monkeypatch.setattr(selectors, "PER_PAGE", 3)
    monkeypatch.setattr(selectors, "COUNT_CAP", 6)
    # Four equal times and a fifth: a page boundary (every 3) falls inside the ties.
    for n in range(5):
        room(f"Live {n}", start=-1, end=1 + (n > 3))
        room(f"Later {n}", start=1 + (n > 3), end=5)
        room(f"Over {n}", start=-5, end=-2 - (n > 3))
    filters = RoomFilters(state=state)
    everything = [r.title for r in room_list(user=scheduler, filters=filters, now=NOW)]

    pages = [room_page(user=scheduler, filters=filters, number=1, now=NOW)]
    while pages[-1].has_next():
        number = pages[-1].next_page_number()
        pages.append(room_page(user=scheduler, filters=filters, number=number, now=NOW))

    assert [r.title for page in pages for r in page.object_list] == everything
    assert len(everything) == {"": 10, ANY_TIME: 15, "live": 5, "expired": 5}[state]


@pytest.mark.parametrize(
    ("asked", "shown"), [("2", 2), ("99", 2), ("0", 2), ("nope", 1), (None, 1)]
)
def test_it_shows_the_last_page_past_the_end_and_the_first_for_nonsense(scheduler, asked, shown):
    for n in range(PER_PAGE + 1):
        room(f"Room {n}", start=n + 1, end=n + 2)

    page = room_page(user=scheduler, filters=RoomFilters(), number=asked, now=NOW)

    assert page.number == shown


def test_it_counts_a_large_result_only_up_to_the_cap_and_still_pages_through_it(
    scheduler, monkeypatch
):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    monkeypatch.setattr(selectors, "PER_PAGE", 2)
    for n in range(7):
        room(f"Room {n}", start=n + 1, end=n + 2)
    filters = RoomFilters(sort="valid_from")
    assert scheduler.has_perm("rooms.view_room")  # loads the permissions before counting

    with CaptureQueriesContext(connection) as queries:
        first = room_page(user=scheduler, filters=filters, number=1, now=NOW)
        list(first.object_list)
    pages = [first]
    while pages[-1].has_next():
        number = pages[-1].next_page_number()
        pages.append(room_page(user=scheduler, filters=filters, number=number, now=NOW))

    # Four rooms counted of seven: more than the cap, so no last page is known yet.
    assert (first.paginator.count, first.paginator.exact, first.has_next()) == (4, False, True)
    assert "LIMIT 4" in queries.captured_queries[0]["sql"]
    assert len(queries.captured_queries) == 2
    # Next after next reaches every room once, in order; the last page's count is exact.
    assert [r.title for page in pages for r in page.object_list] == [f"Room {n}" for n in range(7)]
    assert [pages[-1].number, pages[-1].paginator.count, pages[-1].paginator.exact] == [4, 7, True]


@pytest.mark.parametrize(("asked", "shown"), [("0", 1), ("-3", 1), ("nope", 1), ("3", 3)])
def test_a_capped_count_shows_the_first_page_for_a_number_it_cannot_place(
    scheduler, monkeypatch, asked, shown
):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    monkeypatch.setattr(selectors, "PER_PAGE", 1)
    for n in range(6):
        room(f"Room {n}", start=n + 1, end=n + 2)

    page = room_page(user=scheduler, filters=RoomFilters(), number=asked, now=NOW)

    assert not page.paginator.exact
    assert page.number == shown
    assert page.has_next()


def test_it_pages_an_empty_result_without_a_page_query(scheduler):
    assert scheduler.has_perm("rooms.view_room")  # loads the permissions before counting
    with CaptureQueriesContext(connection) as queries:
        page = room_page(user=scheduler, filters=RoomFilters(q="nothing"), number=1, now=NOW)
        assert list(page.object_list) == []

    # How many people the term names, and the count.
    assert len(queries.captured_queries) == 2


# --------------------------------------------------------------------------- week calendar


def _day(week, day: date):
    return next(d for d in week.days if d.date == day)


def test_it_builds_a_monday_first_week_in_the_users_zone(scheduler):
    with timezone.override(zoneinfo.ZoneInfo("Pacific/Auckland")):
        week = week_calendar(user=scheduler, day=date(2025, 6, 11))

    assert [d.date for d in week.days] == [date(2025, 6, 9) + timedelta(days=n) for n in range(7)]
    assert week.days[0].start == datetime(2025, 6, 8, 12, 0, tzinfo=UTC)
    assert week.previous == date(2025, 6, 2)
    assert week.next == date(2025, 6, 16)


def test_it_places_a_room_on_the_local_day_it_happens(scheduler):
    RoomFactory(
        title="Auckland morning",
        valid_from=datetime(2025, 6, 10, 20, 0, tzinfo=UTC),
        valid_until=datetime(2025, 6, 10, 22, 0, tzinfo=UTC),
    )
    with timezone.override(zoneinfo.ZoneInfo("Pacific/Auckland")):
        week = week_calendar(user=scheduler, day=date(2025, 6, 9))

    placed = {d.date: [e.room.title for e in d.entries] for d in week.days if d.entries}
    assert placed == {date(2025, 6, 11): ["Auckland morning"]}


def test_it_clips_a_room_to_each_day_it_spans_and_marks_it_continuing(scheduler):
    zone = zoneinfo.ZoneInfo("America/New_York")
    # Saturday 22:00 to Monday 02:00 New York time, across the start of daylight saving time.
    RoomFactory(
        title="Weekend",
        valid_from=datetime(2025, 3, 8, 22, 0, tzinfo=zone),
        valid_until=datetime(2025, 3, 10, 2, 0, tzinfo=zone),
    )
    with timezone.override(zone):
        week = week_calendar(user=scheduler, day=date(2025, 3, 5))
        following = week_calendar(user=scheduler, day=date(2025, 3, 10))

    saturday, sunday = _day(week, date(2025, 3, 8)), _day(week, date(2025, 3, 9))
    (sat,), (sun,) = saturday.entries, sunday.entries
    assert (sat.start, sat.end) == (datetime(2025, 3, 8, 22, 0, tzinfo=zone), sunday.start)
    assert (sat.continues_before, sat.continues_after) == (False, True)
    assert (sun.continues_before, sun.continues_after) == (True, True)
    # The DST day is 23 hours long.
    assert sunday.end - sunday.start == timedelta(hours=23)
    (mon,) = _day(following, date(2025, 3, 10)).entries
    assert (mon.continues_before, mon.continues_after) == (True, False)
    assert mon.end == datetime(2025, 3, 10, 2, 0, tzinfo=zone)


def test_it_caps_the_rooms_shown_per_day_and_counts_the_rest(scheduler):
    for n in range(15):
        RoomFactory(
            title=f"Slot {n:02}",
            valid_from=datetime(2025, 6, 11, 8, n, tzinfo=UTC),
            valid_until=datetime(2025, 6, 11, 9, 0, tzinfo=UTC),
        )
    RoomFactory(  # deleted rooms are not on the calendar
        valid_from=datetime(2025, 6, 11, 8, 0, tzinfo=UTC),
        valid_until=datetime(2025, 6, 11, 9, 0, tzinfo=UTC),
        deleted_at=NOW,
    )

    week = week_calendar(user=scheduler, day=date(2025, 6, 11), per_day=12)

    wednesday = _day(week, date(2025, 6, 11))
    assert [e.room.title for e in wednesday.entries] == [f"Slot {n:02}" for n in range(12)]
    assert wednesday.more == 3


def test_it_marks_today_in_the_users_zone(scheduler):
    with timezone.override(zoneinfo.ZoneInfo("Pacific/Kiritimati")):
        today = timezone.localdate()
        week = week_calendar(user=scheduler, day=today)

    assert [d.date for d in week.days if d.is_today] == [today]


def test_each_calendar_entry_says_whether_its_room_is_live_upcoming_or_ended(scheduler):
    for title, start, end in (("Over", -3, -1), ("Now", -1, 1), ("Later", 1, 2)):
        room(title, start=start, end=end)

    week = week_calendar(user=scheduler, day=date(2025, 6, 11), now=NOW)

    states = {e.room.title: e.state for e in _day(week, date(2025, 6, 11)).entries}
    assert states == {
        "Over": WindowState.ENDED,
        "Now": WindowState.LIVE,
        "Later": WindowState.UPCOMING,
    }


# --------------------------------------------------------------------------- dashboard


def test_it_sorts_rooms_into_the_dashboards_cards(scheduler):
    room("Live", start=-1, end=1)
    room("Later today", start=3, end=4)
    room("Next week", start=24 * 6, end=24 * 6 + 1)
    room("Too far", start=24 * 8, end=24 * 8 + 1)
    room("Just ended", start=-3, end=-2)
    room("Long ago", start=-24 * 9, end=-24 * 8)
    room("Refused", start=24 * 20, end=24 * 21, state=SyncState.STOPPED, last_error="400")
    room("Deleted", start=-1, end=1, deleted_at=NOW)

    board = dashboard_rooms(user=scheduler, now=NOW)

    def names(rooms):
        return [r.title for r in rooms]

    assert names(board.live) == ["Live"]
    assert names(board.today) == ["Just ended", "Live", "Later today"]
    assert names(board.upcoming) == ["Later today", "Next week"]
    assert names(board.expired) == ["Just ended"]
    assert names(board.out_of_sync) == ["Refused"]
    assert board.counts == {"live": 1, "today": 3, "upcoming": 2, "expired": 1, "out_of_sync": 1}
    assert board.today_date == date(2025, 6, 11)


def test_it_gives_no_dashboard_rooms_to_a_user_who_may_not_view_them(db):
    assert dashboard_rooms(user=UserFactory(), now=NOW) is None


def test_each_dashboard_card_holds_its_first_rooms_when_cards_share_rooms(scheduler):
    # Rooms that sit in several cards at once, with equal times so the pk has to break ties.
    for n in range(4):
        room(f"Live {n}", start=-1, end=1 + n % 2)
        room(f"Soon {n}", start=1 + n % 2, end=5, state=SyncState.FAILED, last_error="503")
        room(f"Ended {n}", start=-3, end=-2 + n % 2 / 2)
    board = dashboard_rooms(user=scheduler, now=NOW, limit=3)

    def first(condition, *order, limit=3):
        return list(Room.objects.filter(condition, deleted_at=None).order_by(*order)[:limit])

    today = Q(valid_from__lt=at(12), valid_until__gt=at(-12))
    assert board.live == first(Q(valid_from__lte=NOW, valid_until__gt=NOW), "valid_until", "pk")
    assert board.today == first(today, "valid_from", "pk")
    assert board.upcoming == first(Q(valid_from__gt=NOW), "valid_from", "pk")
    assert board.expired == first(Q(valid_until__lte=NOW), "-valid_until", "-pk")
    assert board.out_of_sync == first(
        Q(sync__state=SyncState.FAILED), "-updated_at", "-pk", limit=6
    )
    assert [len(board.today), len(board.out_of_sync)] == [3, 4]


def test_a_dashboard_card_counts_up_to_the_cap_and_says_so(scheduler, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    for n in range(4):
        room(f"Live {n}", start=-1, end=1 + n)
    room("Later", start=1, end=2)

    board = dashboard_rooms(user=scheduler, now=NOW, limit=3)

    assert board.counts["live"] == 3  # the cap and one more: there are more than 2
    assert board.count_labels["live"] == "2+"
    assert board.count_labels["upcoming"] == "1"
    assert [r.title for r in board.live] == ["Live 0", "Live 1", "Live 2"]


def test_each_dashboard_card_is_its_own_limited_query_not_a_scan_of_every_room(scheduler):
    room("Live", start=-1, end=1)
    scheduler.has_perm("rooms.view_room")  # the permission cache, filled once per request
    with CaptureQueriesContext(connection) as queries:
        dashboard_rooms(user=scheduler, now=NOW)

    firsts, rooms = (q["sql"] for q in queries.captured_queries)
    # Five cards, each its first rooms and its capped count: ten LIMITed queries in one.
    assert firsts.count("UNION ALL") == 9
    assert firsts.count(" LIMIT ") == 10
    # The rooms are then read by their ids, with no subquery over all rooms.
    assert rooms.count("SELECT") == 1


def test_the_dashboard_reads_its_rooms_in_two_queries(scheduler):
    room("Live", start=-1, end=1)
    scheduler.has_perm("rooms.view_room")  # the permission cache, filled once per request
    with CaptureQueriesContext(connection) as queries:
        dashboard_rooms(user=scheduler, now=NOW)
    assert len(queries.captured_queries) == 2


# --------------------------------------------------------------------------- search plans


def test_a_narrow_search_is_one_or_of_conditions_the_indexes_serve(scheduler):
    """A narrow search is one OR of conditions that indexes serve on PostgreSQL (rooms/0009,
    identities/0007, portal/lookups.py): UPPER(title) and UPPER(acs_id) LIKE through trigram
    indexes, the people's rooms as `id = ANY(ARRAY(...))` through the primary key, so one
    BitmapOr reads just the matches. `id IN (subquery)` in that OR made PostgreSQL scan every
    room. The plan itself depends on the data's size: docs/benchmarks.md measures it at
    100,000 rooms."""
    ParticipantFactory(room=room("Budget review"), identity=IdentityFactory(display_name="Ada"))
    match = selectors._matches("budget")
    assert match.narrow

    rooms = selectors.live_rooms().filter(match.condition).order_by().values("pk")
    sql = str(rooms.query)

    assert [row["pk"] for row in rooms] == [Room.objects.get(title="Budget review").pk]
    if connection.vendor == "postgresql":
        assert '= ANY(ARRAY(SELECT DISTINCT "' in sql and "IN (SELECT" not in sql.split("ANY(")[0]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%trgm'"
            )
            indexes = dict(cursor.fetchall())
        assert set(indexes) == {
            "room_title_trgm",
            "room_acs_id_trgm",
            "identity_name_trgm",
            "identity_email_trgm",
        }
        assert all("gin (upper(" in d and "gin_trgm_ops" in d for d in indexes.values())
    else:
        assert ' IN (SELECT DISTINCT "' in sql
