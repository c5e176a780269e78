"""The reads the invitations pages and feeds need."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from invitations.models import Invitation, RoomCalendar
from joining.links import url_of
from joining.models import JoinLink
from rooms.models import Participant, Room
from rooms.participant_selectors import room_participants

# A feed lists the owner's rooms from a month back to ACS's 180-day limit ahead.
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=180)
FEED_MAX = 2000


def sequences(room_ids: list[int]) -> dict[int, int]:
    return dict(
        RoomCalendar.objects.filter(room_id__in=room_ids).values_list("room_id", "sequence")
    )


def feed_rooms(*, user) -> list[Room]:
    """The live rooms the user owns that end after a month ago and start within 180 days."""
    now = timezone.now()
    return list(
        Room.objects.filter(
            owner=user,
            deleted_at__isnull=True,
            valid_until__gte=now - FEED_PAST,
            valid_from__lte=now + FEED_AHEAD,
        ).order_by("valid_from", "pk")[:FEED_MAX]
    )


def people_with_invitations(*, room: Room) -> list[tuple[Participant, Invitation | None]]:
    """The room's people, each with their latest e-mail about it (None if never sent one)."""
    # The people table's query: names read by primary key, not a join that hashes every identity.
    people = list(room_participants(room=room))
    latest: dict[int, Invitation] = {}
    for row in Invitation.objects.select_related("sync").filter(room_id=room.pk).order_by("-pk"):
        latest.setdefault(row.identity_id, row)
    return [(p, latest.get(p.identity_id)) for p in people]


def history(*, room_id: int, limit: int = 200) -> list[Invitation]:
    """The room's e-mails, newest first, including those to people who left."""
    return list(
        Invitation.objects.select_related("sync", "requested_by").filter(room_id=room_id)[:limit]
    )


def existing_join_url(participant: Participant) -> str:
    """The person's join link if they have one (the preview makes none)."""
    link = JoinLink.objects.filter(participant_id=participant.pk).first()
    return url_of(link) if link is not None else ""
