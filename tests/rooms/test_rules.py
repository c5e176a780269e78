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
    listed = room_list(user=scheduler, filters=RoomFilters(), now=NOW)
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
