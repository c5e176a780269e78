"""An invitation's e-mail: subject, text and HTML bodies (Django templates) and its calendar
file. Built the same way for the preview and for the send."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from invitations import calendar
from invitations.models import Invitation, Kind


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    ics: bytes
    method: str

    @property
    def attachment(self) -> tuple[str, str, bytes]:
        # The method in the content type is what makes mail clients offer Accept / Remove.
        return ("invite.ics", f"text/calendar; method={self.method}", self.ics)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _when(start: datetime, end: datetime, zone) -> str:
    """'Tue 1 Dec 2026, 09:00 – 10:00 CET', or both dates when the window spans days."""
    start, end = start.astimezone(zone), end.astimezone(zone)
    first = f"{start:%a} {start.day} {start:%b %Y, %H:%M}"
    if start.date() == end.date():
        return f"{first} – {end:%H:%M} {end.tzname()}"
    return f"{first} – {end:%a} {end.day} {end:%b %Y, %H:%M} {end.tzname()}"


def room_url(room_id: int) -> str:
    return settings.PORTAL_BASE_URL + reverse("rooms:detail", args=[room_id])


def meeting_of(invitation: Invitation, *, join_url: str = "") -> calendar.Meeting:
    cancelled = invitation.kind == Kind.CANCEL
    return calendar.Meeting(
        room_id=invitation.room_id,
        title=invitation.title,
        notes=invitation.notes,
        valid_from=invitation.valid_from,
        valid_until=invitation.valid_until,
        sequence=invitation.sequence,
        series_id=invitation.series_id,
        # The preview's stand-in for a link not made yet is no URL.
        url=join_url if join_url.startswith(("https://", "http://")) else "",
        attendee=calendar.Attendee(
            address=invitation.to_address, name=invitation.to_name, role=invitation.role
        ),
        join_url="" if cancelled else join_url,
        cancelled=cancelled,
    )


def compose(invitation: Invitation, *, join_url: str) -> Message:
    """The e-mail for this invitation (or cancellation), with `join_url` as the person's link."""
    cancelled = invitation.kind == Kind.CANCEL
    method = "CANCEL" if cancelled else "REQUEST"
    zone = _zone(invitation.time_zone)
    local = _when(invitation.valid_from, invitation.valid_until, zone)
    utc = _when(invitation.valid_from, invitation.valid_until, UTC)
    start = invitation.valid_from.astimezone(zone)
    date = f"{start:%a} {start.day} {start:%b %Y}"
    context = {
        "invitation": invitation,
        "cancelled": cancelled,
        "when": local,
        # The UTC line only when it says something the local one does not.
        "when_utc": utc if utc != local else "",
        "join_url": join_url,
        "sender_name": calendar.organizer()[1],
    }
    name = "cancel" if cancelled else "request"
    subject = f"{'Cancelled' if cancelled else 'Invitation'}: {invitation.title}, {date}"
    ics = calendar.calendar([meeting_of(invitation, join_url=join_url)], method=method)
    return Message(
        subject=" ".join(subject.split()),
        text=render_to_string(f"invitations/email/{name}.txt", context),
        html=render_to_string(f"invitations/email/{name}.html", context),
        ics=ics,
        method=method,
    )
