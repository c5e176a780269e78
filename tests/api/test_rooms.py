"""Rooms through the API: the rooms page's filters, the services' rules, versions and 409s."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbox.models import SyncState
from portal.models import AuditEvent
from rooms.models import Room
from tests.api.conftest import error_of
from tests.rooms.factories import town_hall as _town_hall

pytestmark = pytest.mark.django_db


def town_hall(owner, title="Town hall", **fields):
    room = _town_hall(owner, **fields)
    if title != room.title:
        room.title = title
        room.save(update_fields=["title"])
    return room


def _window(hours_ahead=1, length=2):
    start = timezone.now().replace(microsecond=0) + timedelta(hours=hours_ahead)
    return start.isoformat(), (start + timedelta(hours=length)).isoformat()


def test_it_creates_a_room_through_the_service_and_audits_it(api, superuser):
    start, end = _window()
    response = api.post("/rooms", {"title": "Board", "valid_from": start, "valid_until": end})
    assert response.status_code == 201, response.content
    body = response.json()
    room = Room.objects.get(pk=body["id"])
    assert (room.title, room.owner, room.version) == ("Board", superuser, 1)
    assert body["version"] == 1 and body["sync_state"] == SyncState.PENDING
    assert body["window_state"] == "upcoming"
    assert AuditEvent.objects.filter(action="portal.room.created", room_id=room.pk).exists()


def test_it_names_the_field_a_service_refuses(api):
    start, end = _window()
    response = api.post("/rooms", {"title": "  ", "valid_from": start, "valid_until": end})
    assert response.status_code == 422
    assert error_of(response)["field"] == "title"
    assert not Room.objects.exists()


def test_it_refuses_a_window_that_ends_before_it_starts(api):
    start, end = _window()
    response = api.post("/rooms", {"title": "Backwards", "valid_from": end, "valid_until": start})
    assert response.status_code == 422
    error = error_of(response)
    assert error["details"]
    assert not Room.objects.exists()


def test_it_refuses_a_time_without_its_offset(api):
    response = api.post("/rooms", {"title": "Naive", "valid_from": "2030-01-01T10:00:00"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "valid_from"


def test_it_lists_rooms_with_the_pages_filters(api, superuser):
    town_hall(superuser)
    other = town_hall(superuser, title="Budget review")
    response = api.get("/rooms", {"q": "budget"})
    assert response.status_code == 200
    body = response.json()
    assert [room["id"] for room in body["items"]] == [other.pk]
    assert body["count"] == 1 and body["count_exact"] is True and body["next_page"] is None


def test_it_refuses_a_filter_value_the_page_does_not_know(api):
    response = api.get("/rooms", {"state": "sometime"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "state"


def test_it_gets_a_room_with_its_version_and_sync_state(api, superuser):
    room = town_hall(superuser)
    body = api.get(f"/rooms/{room.pk}").json()
    assert (body["id"], body["version"], body["title"]) == (room.pk, 1, "Town hall")
    assert body["sync_state"] == SyncState.PENDING and body["notes"] == ""


def test_an_unknown_room_is_a_404_and_a_deleted_one_a_410(api, superuser):
    assert error_of(api.get("/rooms/999999"))["code"] == "not_found"
    room = town_hall(superuser)
    assert api.delete(f"/rooms/{room.pk}?version=1").status_code == 204
    response = api.get(f"/rooms/{room.pk}")
    assert response.status_code == 410
    assert error_of(response)["code"] == "gone"


def test_it_updates_only_the_fields_sent_and_bumps_the_version(api, superuser):
    room = town_hall(superuser, notes="Keep me")
    response = api.patch(f"/rooms/{room.pk}", {"version": 1, "title": "Renamed"})
    assert response.status_code == 200, response.content
    room.refresh_from_db()
    assert (room.title, room.notes, room.version) == ("Renamed", "Keep me", 2)
    assert response.json()["version"] == 2


def test_an_update_on_an_old_version_is_a_409_with_the_room_as_it_is(api, superuser):
    room = town_hall(superuser)
    assert api.patch(f"/rooms/{room.pk}", {"version": 1, "title": "First"}).status_code == 200
    response = api.patch(f"/rooms/{room.pk}", {"version": 1, "title": "Second"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert error["current"]["title"] == "First" and error["current"]["version"] == 2
    room.refresh_from_db()
    assert room.title == "First"


def test_an_update_needs_the_version(api, superuser):
    room = town_hall(superuser)
    response = api.patch(f"/rooms/{room.pk}", {"title": "No version"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "version"


def test_a_delete_on_an_old_version_is_a_409_and_deletes_nothing(api, superuser):
    room = town_hall(superuser)
    api.patch(f"/rooms/{room.pk}", {"version": 1, "title": "Moved on"})
    response = api.delete(f"/rooms/{room.pk}?version=1")
    assert response.status_code == 409
    assert error_of(response)["current"]["version"] == 2
    room.refresh_from_db()
    assert room.deleted_at is None


def test_a_delete_tombstones_the_room(api, superuser):
    room = town_hall(superuser)
    assert api.delete(f"/rooms/{room.pk}?version=1").status_code == 204
    room.refresh_from_db()
    assert room.deleted_at is not None
