"""Bad input to the API gets a 4xx in the error shape, never a 500, and changes nothing: the
classes of bad input the pages are tested with (tests/security/test_bad_input.py), in JSON."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Room
from tests.api.conftest import error_of
from tests.rooms.factories import town_hall

pytestmark = pytest.mark.django_db

HUGE = 10**40


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("{not json", 400),
        ("[1, 2]", 400),
        ('"a string"', 400),
        ("\xff\xfe", 400),
        ("[" * 100_000 + "]" * 100_000, 400),
        ('{"title": "T\\u0000itle"}', 400),
        ('{"ti\\u0000tle": "Title"}', 400),
        ('{"title": 12}', 422),
        ('{"title": ["a"]}', 422),
        ('{"title": "T", "pstn_dial_out_enabled": "perhaps"}', 422),
        ('{"title": "T", "valid_from": "yesterday"}', 422),
        ('{"title": "T", "valid_from": "9999-12-31T23:00:00-05:00"}', 422),
        ('{"title": "T", "valid_from": "0001-01-01T00:00:00+05:00"}', 422),
        (f'{{"title": "T", "participants": [{{"identity": {HUGE}}}]}}', 422),
        ('{"title": "T", "participants": [{"identity": -1}]}', 422),
        (f'{{"title": "{"x" * 5000}"}}', 422),
        ('{"title": "Tab\\u0007bell"}', 422),
    ],
)
def test_a_bad_body_is_refused_and_creates_nothing(api, raw, status):
    response = api.post("/rooms", raw=raw)
    assert response.status_code == status, response.content[:300]
    error_of(response)
    assert not Room.objects.exists()


def test_a_nul_in_the_body_names_the_field(api):
    response = api.post("/rooms", raw='{"title": "T\\u0000"}')
    assert error_of(response)["field"] == "title"


@pytest.mark.parametrize(
    "path",
    [
        f"/rooms/{HUGE}",
        "/rooms/0",
        "/rooms/-3",
        "/rooms/%C2%B2",
        f"/identities/{HUGE}",
        f"/rooms/1/participants/{HUGE}",
    ],
)
def test_an_id_no_row_could_have_is_a_4xx(api, path):
    response = api.get(path)
    assert 400 <= response.status_code < 500
    error_of(response)


@pytest.mark.parametrize(
    "params",
    [
        {"page": str(HUGE)},
        {"page": "-1"},
        {"owner": str(HUGE)},
        {"day": "9999-12-31"},
        {"day": "not a day"},
        {"sort": "password"},
        {"q": "x" * 1000},
    ],
)
def test_a_bad_filter_is_a_422(api, params):
    response = api.get("/rooms", params)
    assert response.status_code == 422
    assert error_of(response)["field"] == next(iter(params))


@pytest.mark.parametrize(
    "params", [{"before": str(HUGE)}, {"room": "x"}, {"until": "2030-13-01T00:00:00Z"}]
)
def test_a_bad_history_filter_is_a_422(api, params):
    assert api.get("/history", params).status_code == 422


@pytest.mark.parametrize(
    ("where", "kwargs"),
    [
        ("query", {"params": {"q": "a\x00b"}}),
        ("header", {"headers": {"X-Anything": "a\x00b"}}),
    ],
)
def test_a_nul_in_the_query_or_a_header_is_a_400_in_the_error_shape(api, where, kwargs):
    response = api.get("/rooms", **kwargs)
    assert response.status_code == 400
    assert "NUL" in error_of(response)["message"] or "control" in error_of(response)["message"]


def test_a_version_beyond_any_is_a_422_and_changes_nothing(api, superuser):
    room = town_hall(superuser)
    response = api.patch(f"/rooms/{room.pk}", {"version": HUGE, "title": "X"})
    assert response.status_code == 422
    room.refresh_from_db()
    assert room.title == "Town hall"


def test_null_for_a_field_that_must_have_a_value_is_refused(api, superuser):
    room = town_hall(superuser)
    response = api.patch(f"/rooms/{room.pk}", {"version": 1, "title": None})
    assert response.status_code == 422
    assert error_of(response)["field"] == "title"


def test_a_method_the_path_does_not_take_is_a_405_in_the_error_shape(api):
    response = api.client.put("/api/rooms", headers=api.headers)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_an_offset_postgresql_cannot_hold_is_read_as_its_utc_instant(api):
    # ISO 8601 and Python allow -21:18; PostgreSQL refuses offsets beyond ±15:59.
    response = api.get("/history", {"until": "2768-10-14T20:35:19-21:18"})
    assert response.status_code == 200
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    local = start.replace(tzinfo=None).isoformat() + "-21:18"
    created = api.post("/rooms", {"title": "Far west", "valid_from": local})
    assert created.status_code == 201, created.content
    assert Room.objects.get().valid_from == start + timedelta(hours=21, minutes=18)
