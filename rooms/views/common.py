"""Access helpers every room view uses: a room the user may see, or 404; a deleted room's page.

A deleted room stays readable (its page, its history) but cannot be changed: every view that
would change it answers 410 Gone with that page and the reason (refuses_deleted), never a 500.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from portal.services import require
from rooms import participant_selectors
from rooms.models import Room
from rooms.selectors import DeletedRoom, deleted_room

DELETED = "rooms/deleted.html"
REFUSED = (
    "“{title}” was deleted on {when}{by}, so it can no longer be changed: nothing was changed. "
    "Its page stays readable."
)


class RoomDeleted(Http404):
    """The room was deleted. A 404 wherever nothing catches it; refuses_deleted makes it a 410
    with the deleted room's page."""

    def __init__(self, gone: DeletedRoom):
        super().__init__(f"Room {gone.room.pk} was deleted.")
        self.gone = gone


def get_room_for_user(request, pk: int) -> Room:
    """The live room with this id if the user may view rooms (403 otherwise).

    A deleted room raises RoomDeleted; an id no room ever had, Http404.
    """
    require(request.user, "rooms.view_room", "view rooms")
    room = Room.objects.select_related("owner", "sync").filter(pk=pk).first()
    if room is not None and room.deleted_at is None:
        return room
    gone = deleted_room(user=request.user, pk=pk)
    if gone is None:
        raise Http404("No such room.")
    raise RoomDeleted(gone)


def get_room_or_deleted(request, pk: int) -> Room | DeletedRoom:
    """For pages that only read: the live room, or what is left of a deleted one."""
    try:
        return get_room_for_user(request, pk)
    except RoomDeleted as deleted:
        return deleted.gone


def refused_message(gone: DeletedRoom) -> str:
    when = timezone.localtime(gone.deleted_at)
    return REFUSED.format(
        title=gone.room.title,
        when=f"{when:%a %d %b %Y, %H:%M} {when.tzname()}",
        by=f" by {gone.deleted_by}" if gone.deleted_by else "",
    )


def deleted_context(request, gone: DeletedRoom, **extra) -> dict:
    """What the deleted room's page shows: facts, people, what ACS said, history."""
    context = {"gone": gone, "room": gone.room, **extra}
    if request.user.has_perm("portal.view_auditevent"):
        context["events"], context["next_before"] = participant_selectors.room_history(
            room=gone.room
        )
    return context


def deleted_answer(request, gone: DeletedRoom) -> HttpResponse:
    """410 Gone for a change to a deleted room: its read-only page, saying nothing changed.

    An htmx request (a role picker, a live check) is sent to that page instead, with the
    reason as a message: htmx swaps no 4xx answer, so the user would otherwise see nothing.
    """
    message = refused_message(gone)
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        messages.error(request, message)
        response = HttpResponse(message, status=410, content_type="text/plain; charset=utf-8")
        response["HX-Redirect"] = reverse("rooms:detail", args=[gone.room.pk])
        return response
    return render(request, DELETED, deleted_context(request, gone, refused=message), status=410)


def refuses_deleted(view: Callable) -> Callable:
    """Answer a view's RoomDeleted with deleted_answer(): a clear 410, never a 500."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except RoomDeleted as deleted:
            return deleted_answer(request, deleted.gone)

    return wrapper
