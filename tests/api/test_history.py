"""The history through the API: the history page's filters, paged by id cursors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import AuditEvent
from rooms import services
from tests.api.conftest import error_of
from tests.rooms.factories import town_hall

pytestmark = pytest.mark.django_db


def test_it_pages_the_trail_newest_first_by_cursor(api, superuser):
    room = town_hall(superuser)
    for n in range(4):
        services.room_update(actor=superuser, room=room, expected_version=1 + n, title=f"T{n}")
    trail = list(
        AuditEvent.objects.filter(room_id=room.pk).order_by("-pk").values_list("pk", flat=True)
    )
    assert len(trail) == 5
    first = api.get("/history", {"room": room.pk, "limit": 2}).json()
    assert [event["id"] for event in first["items"]] == trail[:2]
    assert first["newer"] is None
    second = api.get("/history", {"room": room.pk, "limit": 2, "before": first["older"]}).json()
    assert [event["id"] for event in second["items"]] == trail[2:4]
    back = api.get("/history", {"room": room.pk, "limit": 2, "after": second["newer"]}).json()
    assert [event["id"] for event in back["items"]] == trail[:2]
    last = api.get("/history", {"room": room.pk, "limit": 2, "before": second["older"]}).json()
    assert [event["id"] for event in last["items"]] == trail[4:]
    assert last["older"] is None


def test_it_filters_by_action_and_actor(api, superuser, scheduler):
    town_hall(superuser)
    town_hall(scheduler)
    body = api.get("/history", {"action": "portal.room.created", "actor": scheduler.username})
    items = body.json()["items"]
    assert len(items) == 1
    assert (items[0]["actor"], items[0]["action"]) == (scheduler.username, "portal.room.created")


def test_it_filters_by_time(api, superuser):
    town_hall(superuser)
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert api.get("/history", {"since": later}).json()["items"] == []
    assert api.get("/history", {"until": later}).json()["items"]


def test_a_time_without_its_offset_is_refused(api):
    response = api.get("/history", {"since": "2030-01-01T00:00:00"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "since"
