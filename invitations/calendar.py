"""Calendar files (RFC 5545) for rooms: an invitation's or cancellation's entry, a room's file
and a user's feed, written with the icalendar library.

Times are written in UTC (`DTSTART:20261201T090000Z`): every client reads them, and rooms hold
no zone of their own (a VTIMEZONE would name the owner's, which is a display choice).

Each room is its own event with its own UID, a series' occurrences too: ACS has no series, and
each occurrence has its own people, window and fate (moved, deleted one by one). Sent as
RECURRENCE-ID instances of the series' UID, they would need a master event with the RRULE that
no single person's invitation can honestly carry (each occurrence's roster differs); Outlook
files an instance without its master as a broken series, and Google drops or merges it. So an
occurrence is a plain event, and RELATED-TO names its series for clients that group by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.utils import timezone

PRODID = "-//ACS Rooms portal//Invitations//EN"

# ACS roles as iCalendar ROLE values: presenters lead, consumers only watch.
ICAL_ROLES = {
    "Presenter": "CHAIR",
    "Collaborator": "REQ-PARTICIPANT",
    "Attendee": "REQ-PARTICIPANT",
    "Consumer": "OPT-PARTICIPANT",
}


@dataclass(frozen=True)
class Attendee:
    address: str
    name: str
    role: str  # the ACS role


@dataclass(frozen=True)
class Meeting:
    """What a calendar entry says about one room."""

    room_id: int
    title: str
    notes: str
    valid_from: datetime
    valid_until: datetime
    sequence: int
    series_id: int | None = None
    url: str = ""
    attendee: Attendee | None = None
    join_url: str = ""
    cancelled: bool = False


def uid_domain() -> str:
    """The host the UIDs are made unique with: the portal's own (PORTAL_BASE_URL)."""
    return urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"


def room_uid(room_id: int) -> str:
    """The room's UID: the same in every invitation, update, cancellation, file and feed."""
    return f"room-{room_id}@{uid_domain()}"


def series_uid(series_id: int) -> str:
    return f"series-{series_id}@{uid_domain()}"


def organizer() -> tuple[str, str]:
    """The organizer the entries name: the address the invitations come from."""
    return settings.ACS_EMAIL_SENDER, settings.ACS_EMAIL_SENDER_NAME


def description(meeting: Meeting) -> str:
    parts = [meeting.notes.strip()] if meeting.notes.strip() else []
    if meeting.attendee is not None and meeting.attendee.role:
        parts.append(f"Your role: {meeting.attendee.role}")
    if meeting.join_url:
        parts.append(f"Join: {meeting.join_url}")
    return "\n\n".join(parts)


def event(meeting: Meeting, *, stamp: datetime) -> icalendar.Event:
    entry = icalendar.Event()
    entry.add("uid", room_uid(meeting.room_id))
    entry.add("dtstamp", stamp.astimezone(UTC))
    entry.add("sequence", meeting.sequence)
    entry.add("dtstart", meeting.valid_from.astimezone(UTC))
    entry.add("dtend", meeting.valid_until.astimezone(UTC))
    entry.add("summary", meeting.title)
    text = description(meeting)
    if text:
        entry.add("description", text)
    if meeting.url:
        entry.add("url", meeting.url)
    address, name = organizer()
    entry.add("organizer", f"mailto:{address}", parameters={"CN": name})
    if meeting.attendee is not None:
        entry.add(
            "attendee",
            f"mailto:{meeting.attendee.address}",
            parameters={
                "CN": meeting.attendee.name or meeting.attendee.address,
                "ROLE": ICAL_ROLES.get(meeting.attendee.role, "REQ-PARTICIPANT"),
                "PARTSTAT": "NEEDS-ACTION",
                # The organizer is a no-reply address: ask for no answer.
                "RSVP": "FALSE",
            },
        )
    if meeting.series_id is not None:
        entry.add("related-to", series_uid(meeting.series_id))
    entry.add("status", "CANCELLED" if meeting.cancelled else "CONFIRMED")
    return entry


def calendar(
    meetings: Iterable[Meeting],
    *,
    method: str | None = None,
    name: str = "",
    refresh: timedelta | None = None,
) -> bytes:
    """A VCALENDAR of the meetings; `method` REQUEST or CANCEL for e-mail, none for files
    and feeds (RFC 5546: a file without METHOD is published, not a scheduling message).
    `refresh` tells a subscribed calendar app how often to read it again."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    if refresh:
        # RFC 7986's property, and the older one Outlook reads.
        cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", icalendar.vDuration(refresh).to_ical().decode())
    stamp = timezone.now()
    for meeting in meetings:
        cal.add_component(event(meeting, stamp=stamp))
    return cal.to_ical()
