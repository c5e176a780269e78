"""The room form: wall-clock times in a chosen zone become UTC instants that ACS accepts."""

from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from rooms import rules
from rooms.forms import (
    BAD_TIME,
    END_REQUIRED,
    UNKNOWN_LENGTH,
    UNKNOWN_ZONE,
    YEAR_OUT_OF_RANGE,
    RoomForm,
    conflict_rows,
    describe_duration,
    new_room_initial,
    room_initial,
    to_instant,
)
from tests.rooms.factories import RoomFactory

PARIS = ZoneInfo("Europe/Paris")


def _local(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M")


def _data(start: datetime, end: datetime, zone: str = "UTC", **extra) -> dict:
    return {
        "title": "Weekly review",
        "valid_from": _local(start),
        "valid_until": _local(end),
        "time_zone": zone,
        **extra,
    }


def _soon(hours: int = 2) -> tuple[datetime, datetime]:
    start = (timezone.now() + timedelta(days=1)).astimezone(UTC).replace(second=0, microsecond=0)
    return start, start + timedelta(hours=hours)


@pytest.fixture
def frozen_now():
    """Pin timezone.now() (which rules.check_window reads) to a given instant."""

    def freeze(instant: datetime):
        patcher = mock.patch("django.utils.timezone.now", return_value=instant)
        patcher.start()
        return patcher

    patchers = []
    yield lambda instant: patchers.append(freeze(instant))
    for patcher in patchers:
        patcher.stop()


def test_it_stores_a_paris_time_as_the_same_instant_in_utc(frozen_now):
    frozen_now(datetime(2027, 1, 1, tzinfo=UTC))
    form = RoomForm(
        _data(datetime(2027, 1, 10, 14, 0), datetime(2027, 1, 10, 16, 0), "Europe/Paris")
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_from"] == datetime(2027, 1, 10, 13, 0, tzinfo=UTC)
    assert form.cleaned_data["valid_until"] == datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
    assert form.previews == {
        "valid_from": "= 2027-01-10 13:00 UTC",
        "valid_until": "= 2027-01-10 15:00 UTC",
    }
    assert form.duration_text == "Lasts 2 hours (limit 180 days)"


def test_it_refuses_a_time_the_clocks_skip(frozen_now):
    frozen_now(datetime(2026, 3, 1, tzinfo=UTC))
    form = RoomForm(
        _data(datetime(2026, 3, 29, 2, 30), datetime(2026, 3, 29, 5, 0), "Europe/Paris")
    )
    assert not form.is_valid()
    [message] = form.errors["valid_from"]
    assert "2026-03-29 02:30 does not exist in Europe/Paris" in message
    assert "valid_until" not in form.errors


def test_it_takes_the_first_of_a_time_the_clocks_repeat(frozen_now):
    frozen_now(datetime(2026, 10, 1, tzinfo=UTC))
    form = RoomForm(
        _data(datetime(2026, 10, 25, 2, 30), datetime(2026, 10, 25, 5, 0), "Europe/Paris")
    )
    assert form.is_valid(), form.errors
    # 02:30 CEST (UTC+2), before the clocks go back; 02:30 CET would be 01:30 UTC.
    assert form.cleaned_data["valid_from"] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert "happens twice in Europe/Paris" in form.time_notes["valid_from"]
    assert "CEST" in form.time_notes["valid_from"]
    assert form.duration_text == "Lasts 3 hours 30 minutes (limit 180 days)"


def test_to_instant_answers_the_same_for_a_repeated_time_every_time():
    answers = {to_instant(datetime(2026, 10, 25, 2, 30), PARIS)[0] for _ in range(3)}
    assert answers == {datetime(2026, 10, 25, 0, 30, tzinfo=UTC)}
    with pytest.raises(ValidationError):
        to_instant(datetime(2026, 3, 29, 2, 30), PARIS)
    assert to_instant(datetime(2026, 3, 29, 3, 0), PARIS)[0] == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_a_new_room_starts_at_the_next_quarter_hour_in_the_users_zone_for_one_hour():
    now = datetime(2026, 11, 21, 12, 21, tzinfo=UTC)
    with timezone.override(ZoneInfo("Asia/Kolkata")):  # UTC+05:30: 17:51 there
        initial = new_room_initial(now)
    assert initial["time_zone"] == "Asia/Kolkata"
    assert initial["valid_from"] == datetime(2026, 11, 21, 18, 0)
    assert initial["valid_until"] == datetime(2026, 11, 21, 19, 0)
    form = RoomForm(initial=initial)
    assert form.previews["valid_from"] == "= 2026-11-21 12:30 UTC"
    assert form.duration_text == "Lasts 1 hour (limit 180 days)"
    assert form["length"].value() == "60"


def test_a_new_room_defaults_to_utc_when_the_users_zone_is_unknown():
    initial = new_room_initial(datetime(2026, 11, 21, 12, 21, tzinfo=UTC))
    assert initial["time_zone"] == "UTC"
    assert initial["valid_from"] == datetime(2026, 11, 21, 12, 30)
    assert initial["valid_until"] == datetime(2026, 11, 21, 13, 30)


def test_the_form_offers_the_users_zone_preselected():
    with timezone.override(PARIS):
        form = RoomForm(initial=new_room_initial())
    html = str(form["time_zone"])
    assert '<option value="Europe/Paris" selected>' in html


def test_it_puts_end_before_start_beside_the_end():
    start, end = _soon()
    form = RoomForm(_data(end, start))
    assert not form.is_valid()
    assert form.errors["valid_until"] == [rules.END_BEFORE_START]


def test_it_puts_too_long_beside_the_end():
    start, _ = _soon()
    form = RoomForm(_data(start, start + timedelta(days=181)))
    assert not form.is_valid()
    assert form.errors["valid_until"] == [rules.TOO_LONG]
    assert form.duration_text == "Lasts 181 days: longer than the limit of 180 days"


def test_it_puts_end_in_past_beside_the_end():
    start = timezone.now() - timedelta(days=2)
    form = RoomForm(_data(start, start + timedelta(hours=1)))
    assert not form.is_valid()
    assert form.errors["valid_until"] == [rules.END_IN_PAST]
    assert "valid_from" not in form.errors


def test_it_puts_start_too_far_beside_the_start():
    start = timezone.now() + timedelta(days=200)
    form = RoomForm(_data(start, start + timedelta(hours=1)))
    assert not form.is_valid()
    assert form.errors["valid_from"] == [rules.START_TOO_FAR]


@pytest.mark.parametrize("title", ["", "   "])
def test_it_requires_a_title(title):
    start, end = _soon()
    form = RoomForm(_data(start, end, title=title))
    assert not form.is_valid()
    assert form.errors["title"] == [rules.TITLE_REQUIRED]


def test_it_refuses_an_unknown_time_zone():
    start, end = _soon()
    form = RoomForm(_data(start, end, "Mars/Olympus_Mons"))
    assert not form.is_valid()
    assert form.errors["time_zone"] == [UNKNOWN_ZONE]


def test_it_refuses_a_time_that_is_not_a_time():
    start, end = _soon()
    form = RoomForm({**_data(start, end), "valid_from": "next tuesday"})
    assert not form.is_valid()
    assert form.errors["valid_from"] == [BAD_TIME]


@pytest.mark.parametrize(
    ("valid_from", "zone"),
    [("0001-01-01T00:00", "Europe/Paris"), ("9999-12-31T23:59", "America/St_Johns")],
)
def test_it_refuses_a_year_python_cannot_place_in_every_zone(valid_from, zone):
    start, end = _soon()
    form = RoomForm({**_data(start, end), "valid_from": valid_from, "time_zone": zone})
    assert not form.is_valid()
    assert form.errors["valid_from"] == [YEAR_OUT_OF_RANGE]


def test_a_time_with_seconds_is_accepted():
    start, end = _soon()
    form = RoomForm({**_data(start, end), "valid_from": start.strftime("%Y-%m-%dT%H:%M:%S")})
    assert form.is_valid(), form.errors


def test_describe_duration_reads_naturally():
    assert describe_duration(timedelta(minutes=45)) == "Lasts 45 minutes (limit 180 days)"
    assert describe_duration(timedelta(days=1, hours=1)) == "Lasts 1 day 1 hour (limit 180 days)"
    assert describe_duration(timedelta(days=180)) == "Lasts 180 days (limit 180 days)"
    assert describe_duration(timedelta(0)).startswith("Ends before it starts")


@pytest.mark.django_db
def test_an_edit_that_keeps_the_window_keeps_its_exact_instants():
    start = timezone.now() + timedelta(hours=1, seconds=17, microseconds=5)
    room = RoomFactory(valid_from=start, valid_until=start + timedelta(hours=2))
    with timezone.override(PARIS):
        initial = room_initial(room)
    data = {**initial, "title": "Renamed"}
    data["valid_from"] = _local(initial["valid_from"])
    data["valid_until"] = _local(initial["valid_until"])
    form = RoomForm(data, room=room)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_from"] == room.valid_from
    assert form.cleaned_data["valid_until"] == room.valid_until


@pytest.mark.django_db
def test_a_changed_window_is_the_one_typed_in_whole_minutes():
    start = timezone.now() + timedelta(hours=1, seconds=17)
    room = RoomFactory(valid_from=start, valid_until=start + timedelta(hours=2))
    initial = room_initial(room)
    data = {**initial, "valid_from": _local(initial["valid_from"])}
    data["valid_until"] = _local(initial["valid_until"] + timedelta(hours=1))
    form = RoomForm(data, room=room)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_from"] == room.valid_from.replace(second=0, microsecond=0)
    assert form.duration_text == "Lasts 3 hours (limit 180 days)"


@pytest.mark.django_db
def test_an_ended_room_can_still_be_renamed():
    start = timezone.now() - timedelta(days=3)
    room = RoomFactory(valid_from=start, valid_until=start + timedelta(hours=2))
    initial = room_initial(room)
    data = {**initial, "title": "Archive name"}
    data["valid_from"] = _local(initial["valid_from"])
    data["valid_until"] = _local(initial["valid_until"])
    assert RoomForm(data, room=room).is_valid()
    # Moving the window of an ended room is checked like any other window.
    data["valid_until"] = _local(initial["valid_until"] + timedelta(hours=1))
    form = RoomForm(data, room=room)
    assert not form.is_valid()
    assert form.errors["valid_until"] == [rules.END_IN_PAST]


def test_live_checks_show_only_the_errors_of_fields_the_user_changed():
    start, end = _soon()
    data = _data(end, start, title="")
    assert set(RoomForm(data).visible_errors) == {"title", "valid_until"}
    assert set(RoomForm(data, touched={"title"}).visible_errors) == {"title"}
    # The window's fields count as one: moving the start can make the end wrong.
    assert set(RoomForm(data, touched={"valid_from"}).visible_errors) == {"valid_until"}


@pytest.mark.django_db
def test_conflict_rows_show_the_room_now_against_what_the_editor_sent():
    room = RoomFactory(title="Theirs", notes="", pstn_dial_out_enabled=False)
    later = room.valid_until + timedelta(hours=1)
    sent = {
        "title": "Mine",
        "notes": "Bring slides",
        "valid_from": room.valid_from,
        "valid_until": later,
        "pstn_dial_out_enabled": True,
    }
    by_field = {row["field"]: row for row in conflict_rows(sent, room)}
    assert set(by_field) == {"title", "notes", "valid_until", "pstn_dial_out_enabled"}
    assert (by_field["title"]["label"], by_field["valid_until"]["label"]) == ("Title", "Ends")
    assert (by_field["title"]["before"], by_field["title"]["after"]) == ("Theirs", "Mine")
    assert by_field["valid_until"]["is_time"]
    assert (by_field["valid_until"]["before"], by_field["valid_until"]["after"]) == (
        room.valid_until,
        later,
    )
    assert (by_field["pstn_dial_out_enabled"]["before"], by_field["notes"]["before"]) == (
        "off",
        "(empty)",
    )


# --------------------------------------------------------------------------- Ends follows Starts


def _shown(start: datetime, end: datetime, length: str, **moved) -> dict:
    """What the form posts after the page showed start-end with a length, and the user changed
    only the fields in `moved`."""
    data = _data(start, end, length=length)
    data.update(shown_valid_from=_local(start), shown_valid_until=_local(end))
    data.update(
        {
            name: _local(value) if isinstance(value, datetime) else value
            for name, value in moved.items()
        }
    )
    return data


def test_moving_starts_moves_an_untouched_end_keeping_the_chosen_length():
    start, end = _soon(1)
    tomorrow = start + timedelta(days=1)

    form = RoomForm(_shown(start, end, "60", valid_from=tomorrow))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] - form.cleaned_data["valid_from"] == timedelta(hours=1)
    assert form.cleaned_data["valid_from"] == tomorrow


def test_moving_starts_keeps_a_custom_length_when_ends_was_left_alone():
    start = _soon()[0]
    end = start + timedelta(minutes=95)

    form = RoomForm(_shown(start, end, "custom", valid_from=start + timedelta(days=2)))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == end + timedelta(days=2)


def test_choosing_a_length_sets_ends_from_starts():
    start, end = _soon(1)

    data = _shown(start, end, "60")
    data["length"] = "120"  # the page showed 1 hour; the user picks 2 hours

    form = RoomForm(data)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == start + timedelta(hours=2)


def test_an_empty_ends_with_a_length_is_starts_plus_that_length():
    start, end = _soon(1)

    form = RoomForm(_shown(start, end, "1440", valid_until=""))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == start + timedelta(days=1)


def test_an_ends_the_user_typed_wins_over_the_length():
    start, end = _soon(1)
    typed = start + timedelta(hours=5)

    form = RoomForm(_shown(start, end, "60", valid_until=typed))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == typed
    # Shown again, the picker says what the window is now.
    assert form["length"].value() == "custom"


def test_an_empty_ends_with_custom_is_refused_beside_ends():
    start, end = _soon(1)

    form = RoomForm(_shown(start, end, "custom", valid_until=""))

    assert not form.is_valid()
    assert form.errors["valid_until"] == [END_REQUIRED]


def test_a_post_without_a_length_or_shown_times_keeps_ends_as_typed():
    start, end = _soon(3)

    form = RoomForm(_data(start, end))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == end


def test_an_unknown_length_is_refused_beside_the_picker_and_ends_is_left_as_typed():
    start, end = _soon(1)

    form = RoomForm(_shown(start, end, "7", valid_from=start + timedelta(hours=3)))

    assert not form.is_valid()
    assert form.errors["length"] == [UNKNOWN_LENGTH]
    assert form.errors["valid_until"] == [rules.END_BEFORE_START]


def test_unreadable_shown_times_count_as_not_shown():
    start, end = _soon(1)
    data = _shown(start, end, "60", valid_until=start + timedelta(hours=4))
    data["shown_valid_until"] = "yesterday-ish"

    form = RoomForm(data)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == start + timedelta(hours=4)


def test_a_form_shown_again_shows_the_end_it_computed_and_compares_with_it_next_time():
    start, end = _soon(1)
    tomorrow = start + timedelta(days=1)

    form = RoomForm(_shown(start, end, "60", valid_from=tomorrow, title=""))

    assert not form.is_valid()  # the title is missing
    assert form["valid_until"].value() == _local(tomorrow + timedelta(hours=1))
    assert form["shown_valid_from"].value() == _local(tomorrow)
    assert form["shown_valid_until"].value() == _local(tomorrow + timedelta(hours=1))
    assert form["length"].value() == "60"
    html = str(form["shown_valid_until"])
    assert 'type="hidden"' in html and _local(tomorrow + timedelta(hours=1)) in html


def test_the_live_check_does_not_complain_while_starts_moves_past_an_untouched_end():
    start, end = _soon(1)

    form = RoomForm(
        _shown(start, end, "custom", valid_from=end + timedelta(hours=3)), touched={"valid_from"}
    )

    assert form.is_valid(), form.errors
    assert form.visible_errors == {}


def test_a_fresh_form_picks_the_length_that_matches_the_window():
    start = datetime(2026, 11, 21, 10, 0)
    for minutes, key in [(30, "30"), (60, "60"), (120, "120"), (24 * 60, "1440"), (90, "custom")]:
        form = RoomForm(
            initial={
                "valid_from": start,
                "valid_until": start + timedelta(minutes=minutes),
                "time_zone": "UTC",
            }
        )
        assert form["length"].value() == key
        assert form["shown_valid_from"].value() == start
