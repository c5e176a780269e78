"""The series pages: create, the series page, roster changes with a scope, edit, skip, cancel."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent
from rooms.models import Participant, Role, Room, Series
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _form(**overrides) -> dict:
    day = (timezone.now() + timedelta(days=2)).astimezone(PARIS).date()
    data = {
        "title": "Weekly stand-up",
        "notes": "",
        "starts": f"{day:%Y-%m-%d}T09:00",
        "length": "30",
        "custom_minutes": "",
        "time_zone": "Europe/Paris",
        "frequency": "weekly",
        "interval": "1",
        "weekdays": [str(day.weekday())],
        "monthly_by": "day",
        "ends": "after",
        "until": "",
        "count": "3",
    }
    data.update(overrides)
    return data


@pytest.fixture
def made(client, role_admin, settings, emulator, django_capture_on_commit_callbacks):
    """A weekly series of three, made and pushed, with Ada (Presenter) and Alan (Attendee)."""
    settings.SERIES_HORIZON_DAYS = 30
    client.force_login(role_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("rooms:series_create"), _form())
    series = Series.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:series_detail", args=[series.pk])
    url = reverse("rooms:series_roster", args=[series.pk])
    for name, email, role in (
        ("Ada", "ada@example.com", "Presenter"),
        ("Alan", "alan@example.com", "Attendee"),
    ):
        client.post(url, {"action": "add", "name": name, "email": email, "role": role, "from": ""})
    with django_capture_on_commit_callbacks(execute=True):
        run_tasks()
    run_tasks()
    return series, list(Room.objects.filter(series=series).order_by("valid_from"))


def test_a_series_is_created_and_its_occurrences_made(made, client):
    series, rooms = made
    assert len(rooms) == 3
    assert [r.valid_from.astimezone(PARIS).strftime("%H:%M") for r in rooms] == ["09:00"] * 3
    assert all(r.valid_until - r.valid_from == timedelta(minutes=30) for r in rooms)
    assert all(r.acs_id for r in rooms)
    page = client.get(reverse("rooms:series_detail", args=[series.pk])).content.decode()
    assert "Every week on" in page and "3 times" in page
    assert page.count("Edit this and following") == 3
    assert "ada@example.com" in page
    listing = client.get(reverse("rooms:series_list")).content.decode()
    assert "Weekly stand-up" in listing


@pytest.mark.parametrize(
    "overrides, field_text",
    [
        ({"time_zone": "Nowhere/Atlantis"}, "Choose a time zone"),
        ({"interval": "0"}, "greater than or equal to 1"),
        ({"ends": "after", "count": ""}, "how many times"),
        ({"ends": "on", "until": ""}, "last day"),
        ({"ends": "on", "until": "2001-01-01"}, "on or after its first day"),
        ({"length": "custom", "custom_minutes": ""}, "in minutes"),
        (
            {"starts": "2020-01-06T09:00", "ends": "after", "count": "2"},
            "no occurrence that has not ended",
        ),
        ({"starts": "not a time"}, "Enter a date and time"),
        ({"frequency": "yearly"}, "Select a valid choice"),
        ({"weekdays": ["9"]}, "Select a valid choice"),
    ],
)
def test_bad_input_is_answered_on_the_form_and_saves_nothing(
    client, scheduler, overrides, field_text
):
    client.force_login(scheduler)
    response = client.post(reverse("rooms:series_create"), _form(**overrides))
    assert response.status_code == 200
    assert field_text in response.content.decode()
    assert not Series.objects.exists() and not Room.objects.exists()


def test_an_auditor_cannot_create_a_series(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("rooms:series_create")).status_code == 403
    assert client.post(reverse("rooms:series_create"), _form()).status_code == 403
    assert not Series.objects.exists()


def test_roles_from_one_occurrence_on_reach_that_one_and_the_following(
    made, client, emulator, django_capture_on_commit_callbacks
):
    series, rooms = made
    alan = Participant.objects.get(room=rooms[0], identity__email="alan@example.com").identity_id
    ada = Participant.objects.get(room=rooms[0], identity__email="ada@example.com").identity_id
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("rooms:series_roster", args=[series.pk]),
            {
                "action": "roles",
                f"role-{alan}": "Collaborator",
                f"role-{ada}": "Presenter",
                "from": rooms[1].pk,
            },
        )
    run_tasks()
    assert "2 rooms updated" in " ".join(_messages(response))
    assert emulator.requests()["counts"]["Participants_Update"] - before == 2
    roles = {room.pk: Participant.objects.get(room=room, identity_id=alan).role for room in rooms}
    event = AuditEvent.objects.filter(action="portal.series.roster_changed").latest("pk")
    assert {k: v for k, v in event.changes.items() if k.startswith("person")} == {
        "person Alan <alan@example.com>": {"before": "Attendee", "after": "Collaborator"}
    }
    assert event.changes["scope"]["after"].startswith("from the occurrence of ")
    assert roles == {
        rooms[0].pk: Role.ATTENDEE,
        rooms[1].pk: Role.COLLABORATOR,
        rooms[2].pk: Role.COLLABORATOR,
    }


def test_a_roster_change_naming_a_foreign_room_changes_nothing(made, client):
    series, rooms = made
    other = Room.objects.create(
        title="Other",
        owner=series.owner,
        valid_from=rooms[0].valid_from,
        valid_until=rooms[0].valid_until,
    )
    response = client.post(
        reverse("rooms:series_roster", args=[series.pk]),
        {
            "action": "add",
            "name": "Grace",
            "email": "grace@example.com",
            "role": "Attendee",
            "from": other.pk,
        },
    )
    assert "not an occurrence" in " ".join(_messages(response))
    assert not Participant.objects.filter(identity__email="grace@example.com").exists()
    response = client.post(
        reverse("rooms:series_roster", args=[series.pk]),
        {"action": "add", "name": "", "email": "x"},
    )
    assert response.status_code == 302
    assert not series.roster.filter(identity__email="x").exists()


def test_edit_this_and_following_moves_them_to_a_new_series(made, client):
    series, rooms = made
    url = reverse("rooms:series_edit", args=[series.pk]) + f"?from={rooms[1].pk}"
    page = client.get(url).content.decode()
    assert "the following ones" in page
    day = rooms[1].valid_from.astimezone(PARIS).date()
    response = client.post(
        reverse("rooms:series_edit", args=[series.pk]),
        _form(
            starts=f"{day:%Y-%m-%d}T10:30",
            version=str(series.version),
            **{"from": str(rooms[1].pk)},
            count="2",
        ),
    )
    assert response.status_code == 302
    later = Series.objects.exclude(pk=series.pk).get()
    moved = Room.objects.filter(series=later, deleted_at__isnull=True).order_by("valid_from")
    assert [r.pk for r in moved] == [rooms[1].pk, rooms[2].pk]
    assert [r.valid_from.astimezone(PARIS).strftime("%H:%M") for r in moved] == ["10:30", "10:30"]
    rooms[0].refresh_from_db()
    assert rooms[0].valid_from.astimezone(PARIS).strftime("%H:%M") == "09:00"


def test_a_stale_edit_is_refused(made, client):
    series, _ = made
    response = client.post(
        reverse("rooms:series_edit", args=[series.pk]), _form(title="New", version="999")
    )
    assert response.status_code == 200
    assert "Someone else changed this series" in response.content.decode()
    series.refresh_from_db()
    assert series.title == "Weekly stand-up"


def test_skip_and_cancel_from_the_page(made, client):
    series, rooms = made
    response = client.post(reverse("rooms:series_skip", args=[series.pk, rooms[0].pk]))
    assert "Skipped" in " ".join(_messages(response))
    page = client.get(reverse("rooms:series_cancel", args=[series.pk]) + f"?from={rooms[1].pk}")
    assert page.status_code == 200
    client.post(reverse("rooms:series_cancel", args=[series.pk]), {"from": rooms[2].pk})
    assert list(Room.objects.filter(series=series, deleted_at__isnull=True)) == [rooms[1]]
    client.post(reverse("rooms:series_cancel", args=[series.pk]))
    series.refresh_from_db()
    assert series.cancelled_at is not None
    assert AuditEvent.objects.filter(action="portal.series.cancelled").count() == 2
    # A cancelled series' page still reads; its actions answer with a message.
    assert client.get(reverse("rooms:series_detail", args=[series.pk])).status_code == 200
    response = client.get(reverse("rooms:series_edit", args=[series.pk]))
    assert response.status_code == 302


def test_unknown_series_and_bad_ids_are_404_or_messages(client, scheduler):
    client.force_login(scheduler)
    assert client.get(reverse("rooms:series_detail", args=[999])).status_code == 404
    assert client.post(reverse("rooms:series_skip", args=[999, 1])).status_code == 404


def test_the_admin_lists_series_read_only(made, client, superuser):
    series, _ = made
    client.force_login(superuser)
    page = client.get(reverse("admin:rooms_series_changelist")).content.decode()
    assert "Every week on" in page
    assert reverse("rooms:series_detail", args=[series.pk]) in page
    assert client.get(reverse("admin:rooms_series_add")).status_code == 403
    detail = client.get(reverse("admin:rooms_series_change", args=[series.pk]))
    assert detail.status_code == 200
    assert 'name="title"' not in detail.content.decode()


def test_an_occurrence_page_names_its_series(made, client):
    series, rooms = made
    page = client.get(reverse("rooms:detail", args=[rooms[0].pk])).content.decode()
    assert reverse("rooms:series_detail", args=[series.pk]) in page
    assert "stay with this occurrence" in page


def test_the_new_room_form_offers_a_recurring_room(client, scheduler):
    client.force_login(scheduler)
    page = client.get(reverse("rooms:create")).content.decode()
    assert reverse("rooms:series_create") in page
