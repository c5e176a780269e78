"""rooms.rules: where a room's window stands, one answer in Python and in SQL, one wording."""

from datetime import UTC, datetime, timedelta

import pytest

from rooms import rules
from rooms.rules import WindowState
from rooms.selectors import RoomFilters, room_list
from tests.rooms.factories import RoomFactory

NOW = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# (start, end) relative to NOW, in hours, and the state each window is in at NOW.
WINDOWS = {
    "Live": (-1, 1, WindowState.LIVE),
    "Starts exactly now": (0, 1, WindowState.LIVE),
    "Upcoming": (1, 2, WindowState.UPCOMING),
    "Ended": (-3, -1, WindowState.ENDED),
    "Ended exactly now": (-2, 0, WindowState.ENDED),
}


@pytest.mark.parametrize("title", WINDOWS)
def test_window_state_puts_the_bounds_where_the_filters_do(title):
    start, end, state = WINDOWS[title]
    assert rules.window_state(NOW + start * HOUR, NOW + end * HOUR, NOW) == state


@pytest.mark.django_db
def test_the_list_annotates_the_same_state_as_window_state(scheduler):
    for title, (start, end, _) in WINDOWS.items():
        RoomFactory(title=title, valid_from=NOW + start * HOUR, valid_until=NOW + end * HOUR)
    listed = room_list(user=scheduler, filters=RoomFilters(state="any"), now=NOW)
    assert {room.title: room.window_state for room in listed} == {
        title: state for title, (_, _, state) in WINDOWS.items()
    }


def test_a_room_past_its_end_is_called_ended():
    assert WindowState.ENDED.label == "Ended"
    # The key stays what bookmarked URLs (?state=expired) and the badge's CSS class use.
    assert WindowState.ENDED.value == "expired"


def test_the_messages_about_the_limit_name_its_number_of_days():
    assert rules.MAX_ROOM_LIFETIME.days == rules.MAX_DAYS
    assert f"at most {rules.MAX_DAYS} days" in rules.TOO_LONG
    assert f"at most {rules.MAX_DAYS} days" in rules.START_TOO_FAR


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (datetime(2026, 11, 21, 12, 7, 30, tzinfo=UTC), datetime(2026, 11, 21, 12, 15, tzinfo=UTC)),
        (datetime(2026, 11, 21, 12, 15, tzinfo=UTC), datetime(2026, 11, 21, 12, 30, tzinfo=UTC)),
        (datetime(2026, 11, 21, 12, 59, 59, tzinfo=UTC), datetime(2026, 11, 21, 13, 0, tzinfo=UTC)),
        (datetime(2026, 11, 21, 23, 50, tzinfo=UTC), datetime(2026, 11, 22, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_quarter_hour_is_the_next_quarter_strictly_after_now(now, start):
    assert rules.next_quarter_hour(now) == start


def test_next_quarter_hour_counts_quarters_in_the_users_zone():
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    now = datetime(2026, 11, 21, 12, 21, tzinfo=UTC)
    with timezone.override(ZoneInfo("Asia/Kathmandu")):  # UTC+05:45: 18:06 there
        start = rules.next_quarter_hour(now)
        assert timezone.localtime(start).strftime("%H:%M") == "18:15"
    assert start == datetime(2026, 11, 21, 12, 30, tzinfo=UTC)


def test_next_quarter_hour_across_the_clocks_going_back_is_a_quarter_later():
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    # 02:55 CEST on 25 October 2026, five minutes before Paris goes back to 02:00 CET.
    now = datetime(2026, 10, 25, 0, 55, tzinfo=UTC)
    with timezone.override(ZoneInfo("Europe/Paris")):
        assert rules.next_quarter_hour(now) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "blocked"),
    [
        (-1, 1, None),
        (1, 2, None),
        (-3, -1, rules.ExtendBlocked.ENDED),
        (-2, 0, rules.ExtendBlocked.ENDED),
        (-1, 180 * 24 - 1, rules.ExtendBlocked.AT_LIMIT),
        (1, 180 * 24 + 1, rules.ExtendBlocked.AT_LIMIT),
    ],
)
def test_a_room_can_be_extended_unless_it_ended_or_lasts_the_limit(start, end, blocked):
    assert rules.extend_blocked(NOW + start * HOUR, NOW + end * HOUR, NOW) == blocked


def test_an_extension_adds_a_week_up_to_the_limit():
    start = NOW
    assert rules.extended_until(start, start + HOUR) == start + HOUR + timedelta(days=7)
    almost = start + rules.MAX_ROOM_LIFETIME - timedelta(days=2)
    assert rules.extended_until(start, almost) == start + rules.MAX_ROOM_LIFETIME


@pytest.mark.django_db
def test_not_ended_is_every_room_but_the_ended_ones():
    from rooms.models import Room

    for title, (start, end, _) in WINDOWS.items():
        RoomFactory(title=title, valid_from=NOW + start * HOUR, valid_until=NOW + end * HOUR)

    not_ended = set(Room.objects.filter(rules.not_ended_q(NOW)).values_list("title", flat=True))

    assert not_ended == {t for t, (_, _, state) in WINDOWS.items() if state != WindowState.ENDED}
    assert not_ended == set(
        Room.objects.exclude(rules.window_q(WindowState.ENDED, NOW)).values_list("title", flat=True)
    )
