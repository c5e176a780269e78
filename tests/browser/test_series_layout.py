"""The series page fits a phone: no sideways scrolling, the roles reachable."""

from datetime import timedelta

import pytest

from identities.services import NewPerson
from rooms import recurrence
from rooms import series as series_services
from rooms.recurrence import Rule
from rooms.services import ParticipantEntry
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_series_page_fits_390_pixels(chromium, live_server, role_admin, settings):
    from django.utils import timezone

    settings.SERIES_HORIZON_DAYS = 30
    first = (timezone.now() + timedelta(days=2)).replace(tzinfo=None, hour=9, minute=0)
    series = series_services.series_create(
        actor=role_admin,
        title="Weekly stand-up",
        time_zone="UTC",
        first_start=first,
        duration=timedelta(minutes=30),
        rule=Rule(recurrence.WEEKLY),
        participants=[
            ParticipantEntry(NewPerson("A person with a long name", "a" * 48 + "@example.com"))
        ],
    )
    series_services.series_roll(series)
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale="en-GB"
    )
    page = context.new_page()
    sign_in(page, role_admin)
    page.goto(f"/rooms/series/{series.pk}/")
    picker = page.get_by_label("Role of A person with a long name")
    picker.scroll_into_view_if_needed()
    assert picker.is_visible()
    box = picker.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    wide = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), wide
    context.close()
