"""The invitations pages: a room's calendar file and invitations, and the user's feed."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from invitations import calendar, selectors, services
from invitations.messages import compose, meeting_of, room_url
from invitations.models import Invitation, Kind
from portal.http import HtmxHttpRequest, needs, next_or
from rooms.models import Participant, Room
from rooms.views.common import get_room_for_user, refuses_deleted

ICS = "text/calendar; charset=utf-8"
# How often a subscribed calendar app should read a feed again (Google takes hours anyway).
FEED_REFRESH = timedelta(hours=1)


def _room_meeting(room: Room, sequence: int) -> calendar.Meeting:
    return calendar.Meeting(
        room_id=room.pk,
        title=room.title,
        notes=room.notes,
        valid_from=room.valid_from,
        valid_until=room.valid_until,
        sequence=sequence,
        series_id=room.series_id,
        url=room_url(room.pk),
    )


def _ics(body: bytes, *, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=ICS)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@refuses_deleted
@require_GET
def room_calendar(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The room as a calendar file to import (no METHOD: published, not an invitation)."""
    room = get_room_for_user(request, pk)
    sequence = selectors.sequences([room.pk]).get(room.pk, 0)
    body = calendar.calendar([_room_meeting(room, sequence)])
    return _ics(body, filename=f"{slugify(room.title) or 'room'}-{room.pk}.ics")


@login_not_required
@require_GET
def feed(request: HtmxHttpRequest, secret: str) -> HttpResponse:
    """A user's rooms for a calendar app to subscribe to; the secret URL is the only key."""
    user = services.feed_owner(secret)
    if user is None:
        # The same answer for a revoked secret and one that never was.
        raise Http404("No such calendar.")
    rooms = selectors.feed_rooms(user=user)
    numbers = selectors.sequences([room.pk for room in rooms])
    body = calendar.calendar(
        [_room_meeting(room, numbers.get(room.pk, 0)) for room in rooms],
        name=f"Rooms of {user.get_full_name() or user.get_username()}",
        refresh=FEED_REFRESH,
    )
    response = HttpResponse(body, content_type=ICS)
    # A secret URL: kept by no cache, listed by no search engine.
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["GET", "POST"])
def feed_settings(request: HtmxHttpRequest) -> HttpResponse:
    """Make (shown once), replace or revoke the signed-in user's subscription URL."""
    secret = ""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            if services.feed_revoke(user=request.user):
                messages.success(request, "Your calendar subscription URL no longer works.")
            return redirect("invitations:feed_settings")
        secret = services.feed_create(user=request.user)
    url = request.build_absolute_uri(reverse("invitations:feed", args=[secret])) if secret else ""
    return render(
        request,
        "invitations/feed.html",
        {"feed_url": url, "has_feed": bool(secret) or services.feed_exists(user=request.user)},
    )


@refuses_deleted
@require_GET
@needs("rooms.add_participant", "send invitations")
def room_invitations(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Per person: the last e-mail and what ACS said, a preview and a resend."""
    room = get_room_for_user(request, pk)
    return render(
        request,
        "invitations/room.html",
        {
            "room": room,
            "settings": services.calendar_of(room.pk),
            "people": selectors.people_with_invitations(room=room),
            "sent": selectors.history(room_id=room.pk),
        },
    )


def _participant(room: Room, participant_pk: int) -> Participant:
    return get_object_or_404(
        Participant.objects.select_related("identity"), pk=participant_pk, room=room
    )


@refuses_deleted
@require_GET
@needs("rooms.add_participant", "send invitations")
def preview(request: HtmxHttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    """The e-mail the person would get now, shown and not sent."""
    room = get_room_for_user(request, pk)
    participant = _participant(room, participant_pk)
    draft = Invitation(
        room_id=room.pk,
        identity=participant.identity,
        kind=Kind.REQUEST,
        sequence=services.calendar_of(room.pk).sequence,
        role=participant.role,
        title=room.title,
        notes=room.notes,
        valid_from=room.valid_from,
        valid_until=room.valid_until,
        series_id=room.series_id,
        time_zone=services.room_zone(room),
        to_address=participant.identity.email or "(no e-mail address)",
        to_name=participant.identity.display_name,
    )
    join_url = selectors.existing_join_url(participant) or "(the person’s join link)"
    message = compose(draft, join_url=join_url)
    return render(
        request,
        "invitations/preview.html",
        {
            "room": room,
            "participant": participant,
            "message": message,
            "ics": message.ics.decode(),
            "meeting": meeting_of(draft),
        },
    )


@refuses_deleted
@require_POST
@needs("rooms.add_participant", "send invitations")
def resend(request: HtmxHttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    participant = _participant(room, participant_pk)
    back = next_or(request, reverse("invitations:room", args=[room.pk]))
    try:
        services.invitation_resend(actor=request.user, participant=participant)
    except ValidationError as exc:
        messages.error(request, f"Nothing was sent: {' '.join(exc.messages)}")
    else:
        messages.success(
            request, f"The invitation to {participant.identity} will be sent again in a moment."
        )
    return redirect(back)


@refuses_deleted
@require_POST
@needs("rooms.add_participant", "send invitations")
def toggle(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    back = next_or(request, reverse("rooms:detail", args=[room.pk]))
    wanted = request.POST.get("enabled")
    if wanted not in ("on", "off"):
        messages.error(request, "Choose to turn invitations on or off: nothing was changed.")
        return redirect(back)
    try:
        services.invitations_set_enabled(actor=request.user, room=room, enabled=wanted == "on")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            "Invitations are on: people get an e-mail when their place in the room changes."
            if wanted == "on"
            else "Invitations are off: changes to this room send no e-mail.",
        )
    return redirect(back)
