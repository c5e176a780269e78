"""The room form, its live checks, and the room actions: delete, duplicate, extend, retry, badge."""

import re
from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import rules, services
from rooms.forms import PSTN_HELP, WINDOW_HELP
from rooms.models import MAX_ROOM_LIFETIME, Room
from rooms.sync import acs_valid_from, push_room
from tests.conftest import run_tasks
from tests.outbox_rows import set_sync
from tests.rooms.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PARIS = ZoneInfo("Europe/Paris")


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _region(html: str, region_id: str) -> str:
    """The content of the element with this id (a field's error region, say)."""
    return re.search(rf'id="{region_id}"[^>]*>(.*?)</div>', html, re.S)[1]


def _local(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def _window(hours: int = 2) -> tuple[datetime, datetime]:
    start = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    return start, start + timedelta(hours=hours)


def _form(start: datetime, end: datetime, zone: str = "UTC", **extra) -> dict:
    """Form data for a window: aware times are typed in UTC, naive ones in `zone`."""

    def typed(value: datetime) -> str:
        return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%dT%H:%M")

    return {
        "title": "Weekly review",
        "notes": "",
        "valid_from": typed(start),
        "valid_until": typed(end),
        "time_zone": zone,
        **extra,
    }


def _edit_data(client, room: Room) -> dict:
    """What the edit form posts back when the user changes nothing."""
    response = client.get(reverse("rooms:edit", args=[room.pk]))
    form = response.context["form"]
    data = {name: form[name].value() for name in form.fields}
    for name in ("valid_from", "valid_until"):
        data[name] = data[name].strftime("%Y-%m-%dT%H:%M")
    data["pstn_dial_out_enabled"] = "on" if data["pstn_dial_out_enabled"] else ""
    return data


def _run_all_tasks() -> None:
    """Run tasks until none is left: pushes enqueued by earlier, rolled-back tests come first."""
    for _ in range(20):
        if not run_tasks():
            return


@pytest.fixture
def as_scheduler(client, scheduler):
    client.force_login(scheduler)
    return client


def _room(owner, **fields) -> Room:
    start, end = _window()
    return services.room_create(
        actor=owner,
        title=fields.pop("title", "Planning"),
        valid_from=fields.pop("valid_from", start),
        valid_until=fields.pop("valid_until", end),
        **fields,
    )


# --------------------------------------------------------------------------- create


def test_the_new_room_form_offers_a_one_hour_window_from_the_next_quarter_hour(as_scheduler):
    as_scheduler.cookies["portal_tz"] = "Europe/Paris"
    response = as_scheduler.get(reverse("rooms:create"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>New room" in html
    form = response.context["form"]
    start, end = form.initial["valid_from"], form.initial["valid_until"]
    assert (start.minute % 15, end - start) == (0, timedelta(hours=1))
    assert (
        timedelta(0) < timezone.make_aware(start, PARIS) - timezone.now() <= timedelta(minutes=15)
    )
    assert form.initial["time_zone"] == "Europe/Paris"
    assert 'type="datetime-local"' in html
    assert '<option value="Europe/Paris" selected>' in html
    assert WINDOW_HELP in html
    assert PSTN_HELP in html
    assert "Lasts 1 hour (limit 180 days)" in html
    assert re.search(r"= \d{4}-\d\d-\d\d \d\d:(00|15|30|45) UTC", html)
    # The length picker beside Ends, on "1 hour", and the times as shown, for the server to
    # tell an Ends left alone from one typed.
    assert '<option value="60" selected>1 hour</option>' in html
    assert '<option value="custom">Custom</option>' in html
    assert 'type="hidden" name="shown_valid_until"' in html
    # Its script and stylesheet are static files (the CSP forbids inline ones).
    assert "/static/js/room-form.js" in html and "/static/css/room-form.css" in html
    assert "<script>" not in html and "<style" not in html
    # Live checks go to rooms:validate; the form itself still posts to rooms:create.
    assert f'hx-post="{reverse("rooms:validate")}"' in html
    assert f'action="{reverse("rooms:create")}"' in html


def test_it_creates_a_room_stored_in_utc_and_pushes_it_to_acs(
    as_scheduler, emulator, django_capture_on_commit_callbacks
):
    import acs_gateway as acs

    # Two days ahead at 14:00 in Paris, typed as a Paris wall-clock time.
    start = (timezone.now().astimezone(PARIS) + timedelta(days=2)).replace(
        hour=14, minute=0, second=0, microsecond=0, tzinfo=None
    )
    data = _form(start, start + timedelta(hours=2), "Europe/Paris", pstn_dial_out_enabled="on")
    with django_capture_on_commit_callbacks(execute=True):
        response = as_scheduler.post(reverse("rooms:create"), data)
    room = Room.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:detail", args=[room.pk])
    assert _messages(response) == [
        "Created “Weekly review”. It is being pushed to ACS; add people next."
    ]
    assert room.valid_from == start.replace(tzinfo=PARIS).astimezone(UTC)
    assert room.valid_from.astimezone(UTC).hour in (12, 13)  # CEST or CET
    assert room.valid_until - room.valid_from == timedelta(hours=2)
    assert room.pstn_dial_out_enabled is True

    _run_all_tasks()
    room.refresh_from_db()
    assert room.sync.state == SyncState.SYNCED
    held = acs.get_gateway().get_room(room.acs_id)
    # ACS holds the start with the room's fingerprint in its microseconds (rooms.sync).
    assert (held.valid_from, held.valid_until) == (acs_valid_from(room), room.valid_until)
    assert held.valid_from.replace(microsecond=0) == room.valid_from
    assert held.pstn_dial_out_enabled is True


def test_a_refused_window_is_shown_beside_the_end_and_nothing_is_saved(as_scheduler):
    start, _ = _window()
    response = as_scheduler.post(reverse("rooms:create"), _form(start, start + timedelta(days=181)))
    assert response.status_code == 200
    html = response.content.decode()
    assert rules.TOO_LONG in _region(html, "id_valid_until_errors")
    assert "Lasts 181 days: longer than the limit of 180 days" in html
    assert not Room.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_missing_title_is_shown_beside_the_title(as_scheduler):
    start, end = _window()
    response = as_scheduler.post(reverse("rooms:create"), _form(start, end, title=" "))
    html = response.content.decode()
    assert rules.TITLE_REQUIRED in _region(html, "id_title_errors")
    assert 'aria-invalid="true"' in html
    assert not Room.objects.exists()


def test_a_service_refusal_is_shown_beside_its_field_or_at_the_top(as_scheduler):
    start, end = _window()
    refusal = ValidationError({"valid_until": "ACS said no.", "__all__": "Something else."})
    with mock.patch.object(services, "room_create", side_effect=refusal):
        response = as_scheduler.post(reverse("rooms:create"), _form(start, end))
    html = response.content.decode()
    assert (
        "ACS said no." in re.search(r'id="id_valid_until_errors"[^>]*>(.*?)</div>', html, re.S)[1]
    )
    assert "Something else." in re.search(r'id="room-form-errors"[^>]*>(.*?)</div>', html, re.S)[1]


# --------------------------------------------------------------------------- live checks


def test_the_live_check_writes_nothing_and_reports_a_181_day_window(as_scheduler, scheduler):
    _room(scheduler)
    rooms, events = Room.objects.count(), AuditEvent.objects.count()
    start, _ = _window()
    response = as_scheduler.post(
        reverse("rooms:validate"),
        _form(start, start + timedelta(days=181), touched="valid_until"),
        **HTMX,
    )
    assert response.status_code == 200
    assert (Room.objects.count(), AuditEvent.objects.count()) == (rooms, events)
    html = response.content.decode()
    assert "<form" not in html  # only the feedback regions, never the inputs
    errors = re.search(
        r'<div id="id_valid_until_errors" hx-swap-oob="innerHTML">(.*?)</div>', html, re.S
    )
    assert rules.TOO_LONG in errors.group(1)
    assert "Lasts 181 days" in html
    assert f"= {start.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in html


def test_the_live_check_shows_only_the_errors_of_fields_the_user_changed(as_scheduler):
    start, end = _window()
    response = as_scheduler.post(
        reverse("rooms:validate"), _form(end, start, title="", touched="title"), **HTMX
    )
    html = response.content.decode()
    assert rules.TITLE_REQUIRED in html
    assert rules.END_BEFORE_START not in html


def test_the_live_check_refuses_a_skipped_time_with_a_clear_message(as_scheduler):
    response = as_scheduler.post(
        reverse("rooms:validate"),
        {**_form(*_window()), "valid_from": "2027-03-28T02:30", "time_zone": "Europe/Paris"},
        **HTMX,
    )
    assert "2027-03-28 02:30 does not exist in Europe/Paris" in response.content.decode()


def test_the_live_check_of_an_edit_keeps_the_rooms_untouched_window(as_scheduler, scheduler):
    room = _room(scheduler)
    # The room has ended (moved behind the services' back: they refuse an end in the past).
    Room.objects.filter(pk=room.pk).update(
        valid_from=room.valid_from - timedelta(days=3),
        valid_until=room.valid_until - timedelta(days=3),
    )
    html = as_scheduler.get(reverse("rooms:edit", args=[room.pk])).content.decode()
    check = f"{reverse('rooms:validate')}?room={room.pk}"
    assert f'hx-post="{check}"' in html
    data = {**_edit_data(as_scheduler, room), "title": "Archive name"}

    response = as_scheduler.post(check, data, **HTMX)

    # Like a save, which judges a window only when it changes: renaming an ended room is fine.
    assert rules.END_IN_PAST not in response.content.decode()
    response = as_scheduler.post(reverse("rooms:validate"), data, **HTMX)
    assert rules.END_IN_PAST in response.content.decode()


# --------------------------------------------------------------------------- Ends follows Starts


def _as_shown(start: datetime, end: datetime, length: str, **changed) -> dict:
    """What the form posts (no JavaScript) after showing start-end, with `changed` edited."""
    data = _form(start, end, length=length)
    data.update(shown_valid_from=data["valid_from"], shown_valid_until=data["valid_until"])
    for name, value in changed.items():
        data[name] = _form(value, value)["valid_from"] if isinstance(value, datetime) else value
    return data


def test_without_javascript_moving_starts_to_tomorrow_moves_ends_keeping_one_hour(as_scheduler):
    start, end = _window(1)
    tomorrow = start + timedelta(days=1)

    response = as_scheduler.post(
        reverse("rooms:create"), _as_shown(start, end, "60", valid_from=tomorrow)
    )

    room = Room.objects.get()
    assert response.status_code == 302
    assert (room.valid_from, room.valid_until) == (tomorrow, tomorrow + timedelta(hours=1))


def test_without_javascript_a_chosen_length_sets_ends(as_scheduler):
    start, end = _window(1)

    data = _as_shown(start, end, "60", valid_until="")
    data["length"] = "120"  # shown as 1 hour, changed to 2 hours, Ends emptied

    response = as_scheduler.post(reverse("rooms:create"), data)

    room = Room.objects.get()
    assert response.status_code == 302
    assert room.valid_until - room.valid_from == timedelta(hours=2)


def test_an_edit_that_moves_starts_moves_the_rooms_end_with_it(as_scheduler, scheduler):
    room = _room(
        scheduler, valid_from=_window()[0], valid_until=_window()[0] + timedelta(minutes=95)
    )
    data = _edit_data(as_scheduler, room)
    assert data["length"] == "custom"
    later = room.valid_from + timedelta(days=2)
    data["valid_from"] = _local(later)

    response = as_scheduler.post(reverse("rooms:edit", args=[room.pk]), data)

    room.refresh_from_db()
    assert response.status_code == 302
    assert (room.valid_from, room.valid_until - room.valid_from) == (
        later,
        timedelta(minutes=95),
    )


def test_a_form_shown_again_without_javascript_shows_the_end_it_computed(as_scheduler):
    start, end = _window(1)
    tomorrow = start + timedelta(days=1)

    response = as_scheduler.post(
        reverse("rooms:create"), _as_shown(start, end, "60", valid_from=tomorrow, title="")
    )

    assert response.status_code == 200 and not Room.objects.exists()
    html = response.content.decode()
    shown = f'value="{_form(tomorrow, tomorrow)["valid_from"][:11]}'
    ends = re.search(r'<input type="datetime-local" name="valid_until" value="([^"]+)"', html)[1]
    assert ends == (tomorrow + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    assert shown in html


def test_the_live_check_does_not_complain_while_starts_moves_past_an_untouched_end(as_scheduler):
    start, end = _window(1)
    data = _as_shown(
        start, end, "custom", valid_from=end + timedelta(hours=2), touched="valid_from"
    )

    html = as_scheduler.post(reverse("rooms:validate"), data, **HTMX).content.decode()

    assert rules.END_BEFORE_START not in html
    assert "Lasts 1 hour" in html


def test_the_live_check_needs_a_room_permission(client, auditor):
    client.force_login(auditor)
    response = client.post(reverse("rooms:validate"), _form(*_window()), **HTMX)
    assert response.status_code == 403
    assert "rooms.add_room" in response.content.decode()


# --------------------------------------------------------------------------- edit


def test_the_edit_form_shows_the_rooms_times_in_the_users_zone(as_scheduler, scheduler):
    room = _room(scheduler)
    as_scheduler.cookies["portal_tz"] = "America/New_York"
    response = as_scheduler.get(reverse("rooms:edit", args=[room.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"<title>Edit {room.title}" in html
    local = room.valid_from.astimezone(ZoneInfo("America/New_York"))
    assert f'value="{local:%Y-%m-%dT%H:%M}"' in html
    assert f'name="version" value="{room.version}"' in html


def test_it_saves_an_edit(as_scheduler, scheduler):
    room = _room(scheduler)
    data = _edit_data(as_scheduler, room)
    data["title"] = "Planning (moved)"
    end = room.valid_until + timedelta(hours=1)
    data["valid_until"] = _local(end)
    response = as_scheduler.post(reverse("rooms:edit", args=[room.pk]), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:detail", args=[room.pk])
    assert _messages(response) == ["Saved “Planning (moved)”."]
    room.refresh_from_db()
    assert (room.title, room.valid_until, room.version) == ("Planning (moved)", end, 2)


def test_a_stale_edit_shows_how_the_room_differs_from_the_users_values_and_keeps_them(
    as_scheduler, scheduler, role_admin
):
    room = _room(scheduler)
    data = _edit_data(as_scheduler, room)
    # Someone else saves first.
    their_end = room.valid_until + timedelta(hours=3)
    services.room_update(
        actor=role_admin,
        room=room,
        expected_version=room.version,
        title="Their title",
        valid_until=their_end,
    )
    data["title"] = "My title"
    response = as_scheduler.post(reverse("rooms:edit", args=[room.pk]), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Someone else changed this room while you were editing it" in html
    # The room now → what the user sent: what saving again would change.
    changes = {row["field"]: row for row in response.context["changes"]}
    assert set(changes) == {"title", "valid_until"}
    assert (changes["title"]["before"], changes["title"]["after"]) == ("Their title", "My title")
    assert changes["valid_until"]["before"] == their_end
    assert changes["valid_until"]["after"] == room.valid_until
    assert '<span class="before">Their title</span> → <span class="after">My title</span>' in html
    # The user's value is kept; the hidden version is now the current one.
    assert 'value="My title"' in html
    form = response.context["form"]
    assert form["version"].value() == "2"
    room.refresh_from_db()
    assert room.title == "Their title"

    # Saving again overwrites deliberately.
    again = {**data, "version": form["version"].value()}
    response = as_scheduler.post(reverse("rooms:edit", args=[room.pk]), again)
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.title, room.version) == ("My title", 3)


def test_a_deleted_room_cannot_be_edited(as_scheduler, scheduler):
    room = _room(scheduler)
    services.room_delete(actor=scheduler, room=room)

    response = as_scheduler.get(reverse("rooms:edit", args=[room.pk]))

    assert response.status_code == 410
    html = response.content.decode()
    assert "“Planning” was deleted on " in html
    assert "so it can no longer be changed: nothing was changed" in html
    assert "<form" not in html.split("</header>", 1)[1]


# --------------------------------------------------------------------------- delete


def test_delete_asks_first_with_what_will_go(as_scheduler, scheduler):
    room = _room(scheduler)
    ParticipantFactory.create_batch(3, room=room)
    response = as_scheduler.get(reverse("rooms:delete", args=[room.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Delete “Planning”?" in html
    assert "3 participants will be removed" in html
    assert "ACS deletes the room too" in html
    assert f'name="version" value="{room.version}"' in html
    assert f'href="{reverse("rooms:detail", args=[room.pk])}"' in html
    assert Room.objects.get(pk=room.pk).deleted_at is None


def test_it_deletes_a_room(as_scheduler, scheduler):
    room = _room(scheduler)
    response = as_scheduler.post(reverse("rooms:delete", args=[room.pk]), {"version": room.version})
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:list")
    assert _messages(response) == ["Deleted “Planning”. ACS removes it in a moment."]
    room.refresh_from_db()
    assert room.deleted_at is not None


def test_a_stale_delete_deletes_nothing(as_scheduler, scheduler):
    room = _room(scheduler)
    services.room_update(actor=scheduler, room=room, expected_version=1, title="Renamed")
    response = as_scheduler.post(reverse("rooms:delete", args=[room.pk]), {"version": 1})
    assert response["Location"] == reverse("rooms:delete", args=[room.pk])
    assert "Someone else changed this room" in _messages(response)[0]
    room.refresh_from_db()
    assert room.deleted_at is None


# --------------------------------------------------------------------------- duplicate


def _copy_url(room: Room) -> str:
    return f"{reverse('rooms:create')}?copy={room.pk}"


def _copy_form(client, room: Room) -> dict:
    """What the Duplicate form posts when the user saves it unchanged."""
    response = client.get(_copy_url(room))
    form = response.context["form"]
    data = {name: form[name].value() for name in form.fields}
    for name in ("valid_from", "valid_until", "shown_valid_from", "shown_valid_until"):
        data[name] = data[name].strftime("%Y-%m-%dT%H:%M")
    data["pstn_dial_out_enabled"] = "on" if data["pstn_dial_out_enabled"] else ""
    data["version"] = ""
    data["copy"] = str(room.pk)
    return data


def test_duplicate_opens_the_new_room_form_filled_in_and_creates_nothing(as_scheduler, scheduler):
    room = _room(scheduler, notes="Agenda in the wiki.", pstn_dial_out_enabled=True)
    ParticipantFactory(room=room, role="Presenter", identity__display_name="Ada Lovelace")
    ParticipantFactory(room=room, identity__display_name="Alan Turing")
    before = (Room.objects.count(), AuditEvent.objects.count())

    response = as_scheduler.get(_copy_url(room))

    assert response.status_code == 200
    assert (Room.objects.count(), AuditEvent.objects.count()) == before
    html = response.content.decode()
    form = response.context["form"]
    assert form["title"].value() == "Planning (copy)"
    assert form["notes"].value() == "Agenda in the wiki."
    assert form["pstn_dial_out_enabled"].value() is True
    assert "<h1>Duplicate “Planning”</h1>" in html
    assert f'action="{reverse("rooms:create")}"' in html
    assert f'<input type="hidden" name="copy" value="{room.pk}">' in html
    assert "2 people from “Planning” will be copied into the new room when you save" in html
    assert "Ada Lovelace" in html and "Alan Turing" in html
    # A scheduler gives no roles, not even by copying them, and the form says so.
    assert "Everyone will be copied as an Attendee" in html
    assert "Presenter" not in html.split('id="copy-people-heading"', 1)[1].split("</section>")[0]
    # Cancel goes back to the original.
    assert f'<a class="button" href="{reverse("rooms:detail", args=[room.pk])}">Cancel</a>' in html


def test_a_role_admin_copies_the_roles_as_they_are(client, role_admin):
    room = _room(role_admin)
    ParticipantFactory(room=room, role="Presenter", identity__display_name="Ada Lovelace")
    client.force_login(role_admin)

    html = client.get(_copy_url(room)).content.decode()
    data = _copy_form(client, room)
    client.post(reverse("rooms:create"), data)

    assert "Ada Lovelace" in html and "· Presenter" in html
    assert "Everyone will be copied as an Attendee" not in html
    copy = Room.objects.exclude(pk=room.pk).get()
    assert list(copy.participants.values_list("role", flat=True)) == ["Presenter"]


def test_saving_the_duplicate_creates_the_room_with_its_people_once(
    as_scheduler, scheduler, emulator, django_capture_on_commit_callbacks
):
    room = _room(scheduler)
    ParticipantFactory(room=room, role="Presenter")
    ParticipantFactory(room=room)
    push_room(room.pk)  # the original and its people are in ACS
    data = _copy_form(as_scheduler, room)
    before = dict(emulator.requests()["counts"])

    with django_capture_on_commit_callbacks(execute=True):
        response = as_scheduler.post(reverse("rooms:create"), data)
    _run_all_tasks()

    copy = Room.objects.exclude(pk=room.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:detail", args=[copy.pk])
    assert _messages(response) == [
        "Created “Planning (copy)” with 2 participants. Everyone in it is an Attendee. "
        "It is being pushed to ACS."
    ]
    assert copy.title == "Planning (copy)"
    assert sorted(copy.participants.values_list("role", flat=True)) == ["Attendee", "Attendee"]
    assert set(copy.participants.values_list("identity_id", flat=True)) == set(
        room.participants.values_list("identity_id", flat=True)
    )
    # One room made, with its people: the same calls as any new room made with people.
    after = emulator.requests()["counts"]
    calls = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
    assert calls == {"Rooms_Create": 1}
    copy.refresh_from_db()
    assert copy.sync.state == SyncState.SYNCED
    assert AuditEvent.objects.filter(action="portal.room.created", room_id=copy.pk).count() == 1


def test_a_duplicate_left_with_cancel_leaves_nothing(as_scheduler, scheduler, emulator):
    room = _room(scheduler)
    ParticipantFactory(room=room)
    _run_all_tasks()
    before = (Room.objects.count(), AuditEvent.objects.count(), emulator.requests()["counts"])

    page = as_scheduler.get(_copy_url(room))
    # Cancel is a link back to the original: following it writes nothing.
    as_scheduler.get(reverse("rooms:detail", args=[room.pk]))
    _run_all_tasks()

    assert page.status_code == 200
    after = (Room.objects.count(), AuditEvent.objects.count(), emulator.requests()["counts"])
    assert after == before
    assert not Room.objects.filter(title__endswith="(copy)").exists()


def test_the_old_duplicate_button_opens_the_copy_form_and_creates_nothing(as_scheduler, scheduler):
    room = _room(scheduler)

    response = as_scheduler.post(reverse("rooms:duplicate", args=[room.pk]))

    assert response.status_code == 302
    assert response["Location"] == _copy_url(room)
    assert Room.objects.count() == 1


def test_duplicating_an_ended_room_moves_the_copys_window_to_the_future(as_scheduler, scheduler):
    start = timezone.now() - timedelta(days=10)
    room = RoomFactory(owner=scheduler, valid_from=start, valid_until=start + timedelta(hours=3))
    ParticipantFactory(room=room)

    page = as_scheduler.get(_copy_url(room))
    response = as_scheduler.post(reverse("rooms:create"), _copy_form(as_scheduler, room))

    assert "has ended, so this copy starts at the next full hour" in page.content.decode()
    duplicate = Room.objects.exclude(pk=room.pk).get()
    assert response["Location"] == reverse("rooms:detail", args=[duplicate.pk])
    assert timezone.now() < duplicate.valid_from <= timezone.now() + timedelta(hours=1)
    assert duplicate.valid_from.minute == 0
    assert duplicate.valid_until - duplicate.valid_from == timedelta(hours=3)
    assert duplicate.participants.count() == 1
    room.refresh_from_db()
    assert room.valid_from == start  # the original is untouched


def test_a_copy_whose_original_was_deleted_meanwhile_creates_nothing_and_says_so(
    as_scheduler, scheduler
):
    room = _room(scheduler)
    ParticipantFactory(room=room)
    data = _copy_form(as_scheduler, room)
    services.room_delete(actor=scheduler, room=room)

    response = as_scheduler.post(reverse("rooms:create"), data)

    assert response.status_code == 200
    assert "was deleted meanwhile" in response.content.decode()
    assert 'name="copy"' not in response.content.decode()
    assert Room.objects.count() == 1
    # Saving again makes the room, without the people it can no longer copy.
    del data["copy"]
    as_scheduler.post(reverse("rooms:create"), data)
    assert Room.objects.filter(deleted_at=None).get().participants.count() == 0


def test_copying_a_deleted_room_is_refused_with_410(as_scheduler, scheduler):
    room = _room(scheduler)
    services.room_delete(actor=scheduler, room=room)

    response = as_scheduler.get(_copy_url(room))

    assert response.status_code == 410
    assert "was deleted on" in response.content.decode()


def test_copying_a_room_that_never_was_is_not_found(as_scheduler):
    assert as_scheduler.get(f"{reverse('rooms:create')}?copy=987654").status_code == 404


# --------------------------------------------------------------------------- extend


def test_extend_adds_a_week(as_scheduler, scheduler):
    room = _room(scheduler)
    as_scheduler.cookies["portal_tz"] = "Europe/Paris"
    response = as_scheduler.post(reverse("rooms:extend", args=[room.pk]), {"version": 1})
    assert response["Location"] == reverse("rooms:detail", args=[room.pk])
    new_end = room.valid_until + timedelta(days=7)
    [message] = _messages(response)
    assert message.startswith("Extended “Planning” until ")
    assert re.search(r"\d\d:\d\d CES?T\.$", message)
    room.refresh_from_db()
    assert (room.valid_until, room.version) == (new_end, 2)


def test_extend_stops_at_the_180_day_limit(as_scheduler, scheduler):
    start = timezone.now() + timedelta(hours=1)
    room = _room(scheduler, valid_from=start, valid_until=start + timedelta(days=177))
    response = as_scheduler.post(
        reverse("rooms:extend", args=[room.pk]), {"version": 1, "next": "/rooms/"}
    )
    assert response["Location"] == "/rooms/"
    assert _messages(response)[0].endswith("That is the 180-day limit.")
    room.refresh_from_db()
    assert room.valid_until == room.valid_from + MAX_ROOM_LIFETIME


def test_extend_at_the_limit_is_refused_and_changes_nothing(as_scheduler, scheduler):
    start = timezone.now() + timedelta(hours=1)
    room = _room(scheduler, valid_from=start, valid_until=start + MAX_ROOM_LIFETIME)
    events = AuditEvent.objects.count()
    response = as_scheduler.post(
        reverse("rooms:extend", args=[room.pk]), {"version": 1, "next": "https://evil.example/"}
    )
    # An off-site `next` is ignored.
    assert response["Location"] == reverse("rooms:detail", args=[room.pk])
    assert "cannot be extended" in _messages(response)[0]
    room.refresh_from_db()
    assert room.version == 1
    assert AuditEvent.objects.count() == events


def test_extending_an_ended_room_is_refused_with_the_reason_and_changes_nothing(
    as_scheduler, scheduler
):
    start = timezone.now() - timedelta(days=2)
    room = RoomFactory(owner=scheduler, valid_from=start, valid_until=start + timedelta(hours=1))
    events = AuditEvent.objects.count()

    response = as_scheduler.post(reverse("rooms:extend", args=[room.pk]), {"version": 1})

    assert response["Location"] == reverse("rooms:detail", args=[room.pk])
    assert _messages(response) == [
        f"“{room.title}” has ended, and ACS no longer holds a room that has ended: it cannot be "
        "extended. Duplicate it to use it again; nothing was changed."
    ]
    room.refresh_from_db()
    assert (room.version, room.valid_until) == (1, start + timedelta(hours=1))
    assert AuditEvent.objects.count() == events


def test_a_stale_extend_changes_nothing(as_scheduler, scheduler):
    room = _room(scheduler)
    services.room_update(actor=scheduler, room=room, expected_version=1, title="Renamed")
    response = as_scheduler.post(reverse("rooms:extend", args=[room.pk]), {"version": 1})
    assert "Someone else changed this room" in _messages(response)[0]
    room.refresh_from_db()
    assert room.valid_until == room.valid_from + timedelta(hours=2)


# --------------------------------------------------------------------------- retry and the badge


def _failed(room: Room, error="ACS is unavailable (503).", next_try=True) -> Room:
    set_sync(
        room,
        state=SyncState.FAILED if next_try else SyncState.STOPPED,
        last_error=error,
        attempts=3,
        next_try_at=timezone.now() + timedelta(minutes=5) if next_try else None,
    )
    # As a page reads it: with its outbox row.
    return Room.objects.select_related("sync").get(pk=room.pk)


def test_retry_pushes_again_and_returns_to_the_page(as_scheduler, scheduler):
    room = _failed(_room(scheduler), next_try=False)
    response = as_scheduler.post(
        reverse("rooms:retry_sync", args=[room.pk]), {"next": reverse("rooms:list")}
    )
    assert response["Location"] == reverse("rooms:list")
    assert _messages(response) == ["Pushing “Planning” to ACS again now."]
    room.refresh_from_db()
    assert (room.sync.state, room.sync.attempts) == (SyncState.PENDING, 0)
    assert AuditEvent.objects.filter(action="portal.room.sync_requested", room_id=room.pk).exists()


def test_the_badge_polls_while_pending_and_stops_once_synced(
    as_scheduler, scheduler, emulator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        room = _room(scheduler)
    url = reverse("rooms:sync_badge", args=[room.pk])
    pending = as_scheduler.get(url, **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in pending
    assert 'hx-swap="outerHTML"' in pending
    assert "badge-pending" in pending
    assert 'class="sync-status"' not in pending  # the live region stays on the page

    _run_all_tasks()
    synced = as_scheduler.get(url, **HTMX).content.decode()
    assert "badge-synced" in synced
    assert "hx-trigger" not in synced


def test_the_badge_answers_204_when_nothing_changed(as_scheduler, scheduler):
    room = _room(scheduler)
    url = reverse("rooms:sync_badge", args=[room.pk])
    shown = re.search(r"\?shown=([^\"]+)\"", as_scheduler.get(url, **HTMX).content.decode())[1]
    assert as_scheduler.get(url, {"shown": shown}, **HTMX).status_code == 204
    _failed(room)
    assert as_scheduler.get(url, {"shown": shown}, **HTMX).status_code == 200


def test_a_failed_badge_shows_the_error_the_next_try_and_retry(as_scheduler, scheduler):
    room = _failed(_room(scheduler))
    response = as_scheduler.get(
        reverse("rooms:sync_badge", args=[room.pk]),
        HTTP_HX_CURRENT_URL="http://testserver/rooms/?page=2",
        **HTMX,
    )
    html = response.content.decode()
    assert "ACS is unavailable (503)." in html
    assert "Next try <time" in html
    assert "Retry now" in html
    assert f'action="{reverse("rooms:retry_sync", args=[room.pk])}"' in html
    assert 'name="next" value="/rooms/?page=2"' in html
    assert 'hx-trigger="every 2s"' in html  # failed pushes are retried: keep watching


def test_a_stopped_badge_offers_retry_only_to_those_who_may(client, scheduler, auditor):
    room = _failed(_room(scheduler), error="ACS refused the window.", next_try=False)
    client.force_login(auditor)
    html = client.get(reverse("rooms:sync_badge", args=[room.pk])).content.decode()
    assert "ACS refused the window." in html
    assert "Not retried automatically" in html
    assert "Retry now" not in html
    assert "hx-trigger" not in html


def test_the_badge_of_a_deleted_room_says_so_and_stops(as_scheduler, scheduler):
    room = _room(scheduler)
    services.room_delete(actor=scheduler, room=room)
    url = reverse("rooms:sync_badge", args=[room.pk])
    html = as_scheduler.get(url, **HTMX).content.decode()
    assert "badge-deleted" in html
    assert "hx-trigger" not in html
    Room.objects.filter(pk=room.pk).delete()
    gone = as_scheduler.get(url, **HTMX)
    assert gone.status_code == 286  # htmx stops polling
    assert "badge-deleted" in gone.content.decode()
    assert as_scheduler.get(url).status_code == 404


def test_the_badge_reads_the_room_once(as_scheduler, scheduler):
    room = _failed(_room(scheduler))
    url = reverse("rooms:sync_badge", args=[room.pk])
    as_scheduler.get(url)
    with CaptureQueriesContext(connection) as queries:
        as_scheduler.get(url, **HTMX)
    room_queries = [q["sql"] for q in queries if "rooms_room" in q["sql"]]
    assert len(room_queries) == 1


def test_the_badge_included_in_a_page_makes_no_query():
    from django.template.loader import render_to_string

    room = _failed(RoomFactory())
    with CaptureQueriesContext(connection) as queries:
        html = render_to_string("rooms/_sync_badge.html", {"room": room})
    assert len(queries) == 0
    assert 'aria-live="polite"' in html
    assert f'id="sync-badge-{room.pk}"' in html


# --------------------------------------------------------------------------- methods and access


@pytest.mark.parametrize("name", ["duplicate", "extend", "retry_sync"])
def test_actions_refuse_get(as_scheduler, scheduler, name):
    room = _room(scheduler)
    assert as_scheduler.get(reverse(f"rooms:{name}", args=[room.pk])).status_code == 405


def test_the_live_check_refuses_get(as_scheduler):
    assert as_scheduler.get(reverse("rooms:validate")).status_code == 405


@pytest.mark.parametrize(
    ("method", "name", "with_pk", "permission"),
    [
        ("get", "create", False, "rooms.add_room"),
        ("post", "create", False, "rooms.add_room"),
        ("post", "validate", False, "rooms.add_room"),
        ("get", "edit", True, "rooms.change_room"),
        ("post", "edit", True, "rooms.change_room"),
        ("get", "delete", True, "rooms.delete_room"),
        ("post", "delete", True, "rooms.delete_room"),
        ("post", "duplicate", True, "rooms.add_room"),
        ("post", "extend", True, "rooms.change_room"),
        ("post", "retry_sync", True, "rooms.change_room"),
    ],
)
def test_an_auditor_may_not_write(client, scheduler, auditor, method, name, with_pk, permission):
    room = _room(scheduler)
    client.force_login(auditor)
    url = reverse(f"rooms:{name}", args=[room.pk] if with_pk else [])
    data = {"version": room.version, **_form(*_window())} if method == "post" else None
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert permission in response.content.decode()
    room.refresh_from_db()
    assert (room.version, room.deleted_at, Room.objects.count()) == (1, None, 1)


def test_an_auditor_sees_the_badge(client, scheduler, auditor):
    room = _room(scheduler)
    client.force_login(auditor)
    assert client.get(reverse("rooms:sync_badge", args=[room.pk])).status_code == 200
