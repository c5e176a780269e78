"""History shows changes as people read them: named fields, times in their zone, on/off."""

from datetime import UTC, datetime

from django.utils import timezone

from portal.templatetags.portal_tags import change_value, field_label


def test_fields_are_named_as_people_say_them():
    assert field_label("valid_from") == "Starts"
    assert field_label("pstn_dial_out_enabled") == "PSTN dial-out"
    assert field_label("title") == "Title"


def test_an_iso_time_is_shown_in_the_users_zone_with_the_zone_named():
    with timezone.override("Europe/Paris"):
        shown = change_value("2026-11-21T14:17:41.858927+00:00")
    assert ">Sat 21 Nov 2026, 15:17 CET</time>" in shown
    assert 'datetime="2026-11-21T14:17:41+00:00"' in shown


def test_switches_lists_and_blanks_read_as_words():
    assert change_value(True) == "on"
    assert change_value(False) == "off"
    assert change_value(["chat", "voip"]) == "chat, voip"
    assert change_value("") == "(empty)"
    assert change_value("2026-13-99T00:00:00") == "2026-13-99T00:00:00"
    assert change_value(datetime(2026, 1, 1, tzinfo=UTC).date().isoformat()) == "2026-01-01"
