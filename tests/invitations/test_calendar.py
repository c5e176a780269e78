"""Calendar files: RFC 5545 that icalendar reads back, one UID per room for good, times in UTC."""

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from invitations import calendar
from invitations.services import scan_all
from rooms import services
from tests.conftest import PASSWORD
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db


def _download(client, room) -> icalendar.Calendar:
    response = client.get(reverse("invitations:room_calendar", args=[room.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return icalendar.Calendar.from_ical(response.content)


def _event(cal) -> icalendar.Event:
    (event,) = cal.walk("VEVENT")
    return event


def _room(owner, **fields):
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    return services.room_create(
        actor=owner,
        title=fields.pop("title", "Planning"),
        notes=fields.pop("notes", "Agenda: <b>budget</b> & plans"),
        valid_from=start,
        valid_until=start + timedelta(hours=1, minutes=30),
    )


def test_a_rooms_file_is_a_published_event_in_utc(client, scheduler):
    room = _room(scheduler)
    client.force_login(scheduler)
    cal = _download(client, room)
    assert str(cal["PRODID"]) == calendar.PRODID
    assert str(cal["VERSION"]) == "2.0"
    assert "METHOD" not in cal  # a file to import, not a scheduling message
    event = _event(cal)
    assert event.start == room.valid_from
    assert event.start.utcoffset() == timedelta(0)
    assert event.end == room.valid_until
    assert str(event["SUMMARY"]) == "Planning"
    assert str(event["DESCRIPTION"]) == "Agenda: <b>budget</b> & plans"
    assert str(event["URL"]).endswith(reverse("rooms:detail", args=[room.pk]))
    assert "DTSTAMP" in event
    assert event["ORGANIZER"].startswith("mailto:")
    assert str(event["UID"]) == calendar.room_uid(room.pk)
    # The wire format: UTC times end in Z.
    assert (
        f"DTSTART:{room.valid_from.astimezone(UTC):%Y%m%dT%H%M%S}Z"
        in client.get(reverse("invitations:room_calendar", args=[room.pk])).content.decode()
    )


def test_the_uid_stays_and_the_sequence_rises_when_the_room_changes(
    client, scheduler, inbox, django_capture_on_commit_callbacks
):
    room = _room(scheduler)
    client.force_login(scheduler)
    before = _event(_download(client, room))
    services.room_update(
        actor=scheduler,
        room=room,
        expected_version=room.version,
        valid_until=room.valid_until + timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        scan_all()
    after = _event(_download(client, room))
    assert after["UID"] == before["UID"]
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.end == room.valid_until + timedelta(hours=1)


def test_an_auditor_may_download_and_a_visitor_must_sign_in(client, auditor, scheduler):
    room = _room(scheduler)
    url = reverse("invitations:room_calendar", args=[room.pk])
    assert client.get(url).status_code == 302
    client.login(username=auditor.username, password=PASSWORD)
    assert client.get(url).status_code == 200
    assert client.get(reverse("invitations:room_calendar", args=[room.pk + 999])).status_code == 404


def test_a_deleted_rooms_file_is_gone(client, scheduler):
    room = _room(scheduler)
    services.room_delete(actor=scheduler, room=room)
    client.force_login(scheduler)
    assert client.get(reverse("invitations:room_calendar", args=[room.pk])).status_code == 410


def test_an_invitation_names_its_attendee_with_their_role_and_join_link():
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    meeting = calendar.Meeting(
        room_id=7,
        title="Standup",
        notes="",
        valid_from=start,
        valid_until=start + timedelta(minutes=15),
        sequence=3,
        series_id=2,
        attendee=calendar.Attendee("ada@example.com", "Ada Lovelace", "Consumer"),
        join_url="https://rooms.example.com/join/abc/",
    )
    cal = icalendar.Calendar.from_ical(calendar.calendar([meeting], method="REQUEST"))
    assert str(cal["METHOD"]) == "REQUEST"
    event = _event(cal)
    assert event["SEQUENCE"] == 3
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:ada@example.com"
    assert attendee.params["ROLE"] == "OPT-PARTICIPANT"
    assert attendee.params["CN"] == "Ada Lovelace"
    assert "https://rooms.example.com/join/abc/" in str(event["DESCRIPTION"])
    # An occurrence is its own event, grouped with its series by RELATED-TO, not RECURRENCE-ID.
    assert str(event["RELATED-TO"]) == calendar.series_uid(2)
    assert "RECURRENCE-ID" not in event


def test_a_cancellation_keeps_the_uid_and_says_cancelled():
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    meeting = calendar.Meeting(
        room_id=7,
        title="Standup",
        notes="",
        valid_from=start,
        valid_until=start + timedelta(minutes=15),
        sequence=4,
        cancelled=True,
    )
    cal = icalendar.Calendar.from_ical(calendar.calendar([meeting], method="CANCEL"))
    event = _event(cal)
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == calendar.room_uid(7)


def test_times_from_another_zone_are_written_in_utc(settings):
    settings.PORTAL_BASE_URL = "https://rooms.example.com"
    room = RoomFactory.build(pk=5)
    paris = timezone.get_fixed_timezone(60)
    meeting = calendar.Meeting(
        room_id=room.pk,
        title="Paris",
        notes="",
        valid_from=datetime(2026, 12, 1, 10, 0, tzinfo=paris),
        valid_until=datetime(2026, 12, 1, 11, 0, tzinfo=paris),
        sequence=0,
    )
    text = calendar.calendar([meeting]).decode()
    assert "DTSTART:20261201T090000Z" in text
    assert "UID:room-5@rooms.example.com" in text
