"""The room page's join-links panel: rooms' template includes it, rooms' code knows nothing."""

from django import template
from django.template.loader import render_to_string

from joining.links import MANAGE_LINKS, url_of
from portal.ids import parse_id
from rooms.participant_selectors import room_participants

register = template.Library()

# Up to this many people the panel opens by itself; beyond it stays folded, keeping the page short.
OPEN_UP_TO = 20
# A page of the panel: a room of thousands renders as fast as the room page's own people table.
PAGE = 200


@register.simple_tag(takes_context=True)
def join_links_panel(context) -> str:
    """The panel for staff who may manage links, on a live room; nothing for anyone else."""
    room, request = context.get("room"), context.get("request")
    if room is None or request is None or getattr(room, "deleted_at", None) is not None:
        return ""
    permission, _ = MANAGE_LINKS
    if not request.user.has_perm(permission):
        return ""
    start = parse_id(request.GET.get("links_from", "")) or 0
    # The people table's own query (names by primary key, not a join that hashed every identity:
    # 15 ms at 100,000 rooms), with each person's link.
    participants = list(
        room_participants(room=room).select_related("join_link")[start : start + PAGE + 1]
    )
    rows = []
    for participant in participants[:PAGE]:
        link = getattr(participant, "join_link", None)
        rows.append({"participant": participant, "url": url_of(link) if link else ""})
    return render_to_string(
        "joining/_links.html",
        {
            "room": room,
            "rows": rows,
            "first": start + 1,
            "last": start + len(rows),
            "previous_from": max(0, start - PAGE) if start else None,
            "next_from": start + PAGE if len(participants) > PAGE else None,
            "open": start > 0 or len(rows) <= OPEN_UP_TO,
        },
        request=request,
    )
