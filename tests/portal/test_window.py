"""A room's window in a dense table: the date once, the zone once, each end a <time>."""

import re
from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone

from portal.templatetags.portal_tags import window


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _in(zone: str, start: datetime, end: datetime) -> str:
    with timezone.override(zone):
        return str(window(start, end))


def test_one_day_shows_the_date_once_and_the_zone_once():
    html = _in(
        "Europe/Paris",
        datetime(2026, 12, 21, 8, 0, tzinfo=UTC),
        datetime(2026, 12, 21, 9, 0, tzinfo=UTC),
    )
    assert _text(html) == "Mon 21 Dec 2026, 09:00–10:00 CET"


def test_each_end_is_a_time_element_with_its_utc_instant():
    html = _in(
        "Europe/Paris",
        datetime(2026, 12, 21, 8, 0, tzinfo=UTC),
        datetime(2026, 12, 22, 9, 0, tzinfo=UTC),
    )
    assert re.findall(r'<time datetime="([^"]+)"', html) == [
        "2026-12-21T08:00:00+00:00",
        "2026-12-22T09:00:00+00:00",
    ]
    assert 'title="2026-12-22 09:00 UTC"' in html


def test_across_days_the_end_names_its_day_without_the_year():
    html = _in(
        "Europe/Paris",
        datetime(2026, 12, 21, 8, 0, tzinfo=UTC),
        datetime(2026, 12, 22, 9, 0, tzinfo=UTC),
    )
    assert _text(html) == "Mon 21 Dec 2026, 09:00 – Tue 22 Dec, 10:00 CET"


def test_the_year_is_shown_again_when_it_changes():
    html = _in(
        "Europe/Paris",
        datetime(2026, 12, 31, 21, 0, tzinfo=UTC),
        datetime(2027, 1, 1, 1, 0, tzinfo=UTC),
    )
    assert _text(html) == "Thu 31 Dec 2026, 22:00 – Fri 01 Jan 2027, 02:00 CET"


def test_the_day_is_the_users_not_utcs():
    # 22:00–23:30 UTC is the next morning in Auckland: one day there.
    html = _in(
        "Pacific/Auckland",
        datetime(2026, 12, 21, 22, 0, tzinfo=UTC),
        datetime(2026, 12, 21, 23, 30, tzinfo=UTC),
    )
    assert _text(html) == "Tue 22 Dec 2026, 11:00–12:30 NZDT"


def test_a_change_of_summer_time_inside_names_both_zones():
    html = _in(
        "Europe/Paris",
        datetime(2026, 10, 24, 7, 0, tzinfo=UTC),
        datetime(2026, 10, 26, 9, 0, tzinfo=UTC),
    )
    assert _text(html) == "Sat 24 Oct 2026, 09:00 CEST – Mon 26 Oct, 10:00 CET"


def test_a_missing_end_shows_a_dash():
    html = _in("UTC", datetime(2026, 12, 21, 8, 0, tzinfo=UTC), None)
    assert _text(html) == "Mon 21 Dec 2026, 08:00 UTC – —"


def test_the_tag_is_used_as_templates_write_it():
    template = Template("{% load portal_tags %}{% window room.valid_from room.valid_until %}")
    room = {
        "valid_from": datetime(2026, 12, 21, 8, 0, tzinfo=UTC),
        "valid_until": datetime(2026, 12, 21, 9, 0, tzinfo=UTC),
    }
    with timezone.override("UTC"):
        assert _text(template.render(Context({"room": room}))) == "Mon 21 Dec 2026, 08:00–09:00 UTC"
