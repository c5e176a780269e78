"""The room page's invitations panel: rooms' template includes it, rooms' code knows nothing."""

from django import template
from django.middleware.csrf import get_token
from django.template.loader import render_to_string

from invitations.models import Invitation, Status
from invitations.services import MANAGE, calendar_of

register = template.Library()


@register.simple_tag(takes_context=True)
def invitations_panel(context) -> str:
    """The calendar file for whoever sees the room; the invitations switch and page for staff
    who may change its people. Nothing on a deleted room."""
    room, request = context.get("room"), context.get("request")
    if room is None or request is None or getattr(room, "deleted_at", None) is not None:
        return ""
    may_manage = request.user.has_perm(MANAGE[0])
    return render_to_string(
        "invitations/_panel.html",
        {
            "room": room,
            "may_manage": may_manage,
            "enabled": calendar_of(room.pk).invitations_enabled if may_manage else None,
            # Refusals are final (a bad address): the room page says so, not only their page.
            "refused": Invitation.objects.filter(room_id=room.pk, status=Status.FAILED).count()
            if may_manage
            else 0,
            "csrf_token": get_token(request),
            "next": request.get_full_path(),
        },
    )
