"""The rooms admin writes only through rooms.services and obeys the groups' permissions."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

import acs_gateway as acs
from identities.models import Identity
from outbox.models import SyncState
from portal.models import AuditEvent
from portal.services import Conflict
from rooms import rules, services
from rooms.admin import RESYNC_FIXED
from rooms.models import Participant, Role, Room
from tests.admin_helpers import _action, _login, _room, _room_form
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db

ROOM_ADD = reverse("admin:rooms_room_add")
ROOM_LIST = reverse("admin:rooms_room_changelist")
PARTICIPANT_LIST = reverse("admin:rooms_participant_changelist")
IDENTITY_LIST = reverse("admin:identities_identity_changelist")
EVENT_LIST = reverse("admin:portal_auditevent_changelist")


def test_the_room_list_shows_a_participant_count_without_a_query_per_room(
    client, superuser, scheduler, django_assert_max_num_queries
):
    for n in range(3):
        _room(scheduler, f"Room {n}", people=[(f"P{n}", f"p{n}@example.com", Role.ATTENDEE)])
    _login(client, superuser)
    client.get(ROOM_LIST)
    with django_assert_max_num_queries(12):
        response = client.get(ROOM_LIST)
    for _ in range(10):
        _room(scheduler, "More", people=[("Q", "q@example.com", Role.ATTENDEE)])
    with django_assert_max_num_queries(12):
        client.get(ROOM_LIST)
    assert response.context["cl"].result_list[0].participant_count == 1


def test_the_room_list_filters_by_window_state(client, superuser, scheduler):
    _room(scheduler, "Later")
    response = _login(client, superuser).get(ROOM_LIST, {"window": "live"})
    assert list(response.context["cl"].result_list) == []
    response = client.get(ROOM_LIST, {"window": "upcoming"})
    assert [room.title for room in response.context["cl"].result_list] == ["Later"]


def test_the_room_list_finds_a_room_by_a_participants_email(client, superuser, scheduler):
    _room(scheduler, "With Ada", people=[("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    _room(scheduler, "Without")
    response = _login(client, superuser).get(ROOM_LIST, {"q": "ada@example"})
    assert [room.title for room in response.context["cl"].result_list] == ["With Ada"]


def test_adding_a_room_in_the_admin_goes_through_the_service(client, scheduler):
    response = _login(client, scheduler).post(ROOM_ADD, _room_form(title="Planning"))
    assert response.status_code == 302
    room = Room.objects.get()
    assert (room.title, room.owner) == ("Planning", scheduler)
    event = AuditEvent.objects.get(action="portal.room.created")
    assert (event.room_id, event.actor_id) == (room.pk, scheduler.pk)


def test_a_181_day_window_is_refused_beside_the_field_and_nothing_is_saved(client, scheduler):
    start = timezone.now() + timedelta(hours=1)
    data = _room_form(valid_from=start, valid_until=start + timedelta(days=181))
    response = _login(client, scheduler).post(ROOM_ADD, data)
    assert response.status_code == 200
    assert rules.TOO_LONG in response.text
    assert response.context["adminform"].form.errors["valid_until"] == [rules.TOO_LONG]
    assert not Room.objects.exists()
    assert not AuditEvent.objects.exists()


def test_editing_a_room_goes_through_the_service_and_bumps_its_version(client, scheduler):
    room = _room(scheduler)
    url = reverse("admin:rooms_room_change", args=[room.pk])
    response = _login(client, scheduler).post(url, _room_form(room, title="Renamed"))
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.title, room.version) == ("Renamed", 2)
    event = AuditEvent.objects.get(action="portal.room.updated")
    assert event.changes["title"] == {"before": "Board meeting", "after": "Renamed"}


def test_a_stale_edit_is_refused_and_changes_nothing(client, scheduler, role_admin):
    room = _room(scheduler)
    loaded = _room_form(room, title="Mine")  # the editor opened the form at version 1
    services.room_update(actor=role_admin, room=room, expected_version=1, title="Theirs")
    url = reverse("admin:rooms_room_change", args=[room.pk])
    response = _login(client, scheduler).post(url, loaded)
    assert response.status_code == 200
    assert services.STALE_EDIT in response.text
    room.refresh_from_db()
    assert (room.title, room.version) == ("Theirs", 2)


def test_a_conflict_the_service_finds_at_save_time_is_reported_and_nothing_is_logged(
    client, scheduler, monkeypatch
):
    room = _room(scheduler)

    def conflict(**kwargs):
        raise Conflict(services.STALE_EDIT)

    monkeypatch.setattr(services, "room_update", conflict)
    url = reverse("admin:rooms_room_change", args=[room.pk])
    response = _login(client, scheduler).post(url, _room_form(room, title="Mine"), follow=True)
    assert response.redirect_chain[-1][0] == url
    assert services.STALE_EDIT in response.text
    assert "was changed successfully" not in response.text
    assert not LogEntry.objects.exists()
    room.refresh_from_db()
    assert room.title == "Board meeting"


def test_deleting_a_room_in_the_admin_leaves_a_tombstone_and_an_event(client, scheduler):
    room = _room(scheduler, people=[("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    url = reverse("admin:rooms_room_delete", args=[room.pk])
    _login(client, scheduler)
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "Ada Lovelace" not in confirm.text  # participants stay until ACS confirms
    assert client.post(url, {"post": "yes"}).status_code == 302
    room.refresh_from_db()
    assert room.deleted_at is not None
    assert AuditEvent.objects.filter(action="portal.room.deleted", room_id=room.pk).exists()
    assert room.participants.count() == 1
    # Tombstones are not listed.
    assert list(client.get(ROOM_LIST).context["cl"].result_list) == []


def test_deleting_rooms_in_bulk_goes_through_the_service_per_room(client, scheduler):
    rooms = [_room(scheduler, f"Room {n}") for n in range(2)]
    _login(client, scheduler)
    client.post(
        ROOM_LIST,
        {"action": "delete_selected", "_selected_action": [r.pk for r in rooms], "post": "yes"},
    )
    assert Room.objects.filter(deleted_at__isnull=False).count() == 2
    assert AuditEvent.objects.filter(action="portal.room.deleted").count() == 2


def test_adding_a_participant_inline_goes_through_the_service(client, role_admin):
    room = _room(role_admin)
    ada = Identity.objects.create(display_name="Ada Lovelace", email="ada@example.com")
    data = _room_form(room)
    data.update(
        {
            "participants-TOTAL_FORMS": "1",
            "participants-0-identity": str(ada.pk),
            "participants-0-role": Role.PRESENTER,
            "participants-0-room": str(room.pk),
        }
    )
    url = reverse("admin:rooms_room_change", args=[room.pk])
    response = _login(client, role_admin).post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    participant = room.participants.get()
    assert (participant.identity, participant.role) == (ada, Role.PRESENTER)
    assert AuditEvent.objects.filter(action="portal.participant.added").count() == 1


def test_changing_and_removing_participants_inline_goes_through_the_services(client, role_admin):
    room = _room(
        role_admin,
        people=[
            ("Ada Lovelace", "ada@example.com", Role.ATTENDEE),
            ("Alan Turing", "alan@example.com", Role.ATTENDEE),
        ],
    )
    ada, alan = room.participants.order_by("identity__display_name")
    data = _room_form(room)
    data.update(
        {
            "participants-TOTAL_FORMS": "2",
            "participants-INITIAL_FORMS": "2",
            "participants-0-id": str(ada.pk),
            "participants-0-room": str(room.pk),
            "participants-0-role": Role.PRESENTER,
            "participants-1-id": str(alan.pk),
            "participants-1-room": str(room.pk),
            "participants-1-role": Role.ATTENDEE,
            "participants-1-DELETE": "on",
        }
    )
    url = reverse("admin:rooms_room_change", args=[room.pk])
    assert _login(client, role_admin).post(url, data).status_code == 302
    assert list(room.participants.values_list("pk", "role")) == [(ada.pk, Role.PRESENTER)]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"portal.participant.role_changed", "portal.participant.removed"} <= actions


def test_the_retry_action_asks_the_service_to_push_each_room(client, scheduler):
    rooms = [_room(scheduler, f"Room {n}") for n in range(2)]
    response = _action(_login(client, scheduler), ROOM_LIST, "retry_sync", rooms)
    assert response.status_code == 200
    requested = AuditEvent.objects.filter(action="portal.room.sync_requested")
    assert sorted(requested.values_list("room_id", flat=True)) == sorted(r.pk for r in rooms)
    assert "pushed to ACS now" in response.text


def test_the_resync_action_makes_acs_match_a_room_changed_behind_the_portals_back(
    client, scheduler, emulator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        room = _room(scheduler, people=[("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
        steady = _room(scheduler, "Steady")
    run_tasks()
    room.refresh_from_db()
    steady.refresh_from_db()
    assert room.sync.state == SyncState.SYNCED
    gateway = acs.get_gateway()
    ada = Identity.objects.get(email="ada@example.com").raw_id
    gateway.update_room(room.acs_id, valid_until=room.valid_until + timedelta(hours=1))
    gateway.update_participants(room.acs_id, upserts={ada: "Presenter"})

    response = _action(_login(client, scheduler), ROOM_LIST, "resync_from_acs", [room, steady])

    held = gateway.get_room(room.acs_id)
    assert held.valid_until.replace(microsecond=0) == room.valid_until.replace(microsecond=0)
    assert gateway.list_participants(room.acs_id) == {ada: "Attendee"}
    fixed = AuditEvent.objects.get(action="portal.reconcile.fixed")
    assert fixed.room_id == room.pk
    assert fixed.actor_id == scheduler.pk
    assert set(fixed.changes) == {"valid_until", f"participant {ada}"}
    assert RESYNC_FIXED in response.text
    assert "1 room(s) already in sync with ACS: Steady" in response.text


def test_the_resync_action_needs_the_change_room_permission(client, auditor, scheduler):
    room = _room(scheduler)
    response = _action(_login(client, auditor), ROOM_LIST, "resync_from_acs", [room])
    # The changelist, without the action to choose: Django ran nothing.
    assert response.status_code == 200
    assert "resync_from_acs" not in response.text
    assert not AuditEvent.objects.filter(action="portal.reconcile.fixed").exists()


def test_the_resync_action_reports_a_room_not_pushed_yet_as_pending(client, scheduler, emulator):
    room = _room(scheduler, "Brand new")
    response = _action(_login(client, scheduler), ROOM_LIST, "resync_from_acs", [room])
    assert "Brand new: not created in ACS yet." in response.text
    assert not AuditEvent.objects.filter(action="portal.reconcile.fixed").exists()


def test_the_role_actions_make_one_service_call_per_room(client, role_admin, monkeypatch):
    first = _room(role_admin, "One", people=[("A", "a@example.com", Role.ATTENDEE)])
    second = _room(
        role_admin,
        "Two",
        people=[("B", "b@example.com", Role.ATTENDEE), ("C", "c@example.com", Role.CONSUMER)],
    )
    calls = []
    original = services.participants_roles_change

    def spy(**kwargs):
        calls.append((kwargs["room"].pk, sorted(kwargs["roles"])))
        return original(**kwargs)

    monkeypatch.setattr(services, "participants_roles_change", spy)
    everyone = Participant.objects.all()
    response = _action(_login(client, role_admin), PARTICIPANT_LIST, "make_presenter", everyone)
    assert sorted(room for room, _ in calls) == [first.pk, second.pk]
    assert set(Participant.objects.values_list("role", flat=True)) == {Role.PRESENTER}
    assert "3 participant(s) are now Presenter" in response.text


def test_a_scheduler_is_not_offered_the_role_actions(client, scheduler):
    _room(scheduler, people=[("A", "a@example.com", Role.ATTENDEE)])
    response = _login(client, scheduler).get(PARTICIPANT_LIST)
    assert response.status_code == 200
    assert "make_presenter" not in response.text


def test_changing_a_participants_role_in_its_form_goes_through_the_service(client, role_admin):
    room = _room(role_admin, people=[("A", "a@example.com", Role.ATTENDEE)])
    participant = room.participants.get()
    url = reverse("admin:rooms_participant_change", args=[participant.pk])
    response = _login(client, role_admin).post(url, {"role": Role.CONSUMER, "_save": "Save"})
    assert response.status_code == 302
    participant.refresh_from_db()
    assert participant.role == Role.CONSUMER
    assert AuditEvent.objects.filter(action="portal.participant.role_changed").exists()


def test_deleting_a_participant_in_the_admin_goes_through_the_service(client, scheduler):
    room = _room(scheduler, people=[("A", "a@example.com", Role.ATTENDEE)])
    participant = room.participants.get()
    url = reverse("admin:rooms_participant_delete", args=[participant.pk])
    assert _login(client, scheduler).post(url, {"post": "yes"}).status_code == 302
    assert not room.participants.exists()
    assert AuditEvent.objects.filter(action="portal.participant.removed").exists()


def test_an_admin_save_refused_in_an_inline_row_saves_nothing_of_the_room(client, role_admin):
    room = _room(role_admin)
    gone = Identity.objects.create(display_name="Gone", email="gone@example.com")
    gone.deleted_at = timezone.now()
    gone.save(update_fields=["deleted_at"])
    data = _room_form(room, title="Renamed")
    data.update(
        {
            "participants-TOTAL_FORMS": "1",
            "participants-0-identity": str(gone.pk),
            "participants-0-role": Role.ATTENDEE,
            "participants-0-room": str(room.pk),
        }
    )
    events = AuditEvent.objects.count()
    url = reverse("admin:rooms_room_change", args=[room.pk])
    response = _login(client, role_admin).post(url, data, follow=True)
    assert "has been deleted" in response.content.decode()
    room.refresh_from_db()
    assert (room.title, room.version) == ("Board meeting", 1)
    assert AuditEvent.objects.count() == events
    assert not room.participants.exists()
