"""The dashboard's fair baseline: the same five room cards and the latest history, written as
plain ORM queries (a count and the first rooms per card, ten queries) and rendered by a minimal
template, with none of the portal's selectors or page frame.

The portal's dashboard (config.views.dashboard) reads every card's count in one query and every
card's rooms in one more; this is what one writes without that work, and what the portal's
figure has to beat to be worth it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils import timezone
from django.views.decorators.http import require_GET

from outbox.models import SyncState
from portal.models import AuditEvent
from rooms.models import Room

CARD_ROOMS = 5
RECENT = timedelta(days=7)
# A push still pending this long after it was asked for needs attention (the portal's rule).
OVERDUE = timedelta(minutes=1)

TEMPLATE = """<!doctype html><html lang="en"><head><title>Dashboard (baseline)</title></head>
<body><h1>Dashboard</h1>
{% for card in cards %}<section><h2>{{ card.title }} ({{ card.count }})</h2><ul>
{% for room in card.rooms %}<li>{{ room.title }}: {{ room.valid_from|date:"D j M Y H:i" }} to
{{ room.valid_until|date:"D j M Y H:i" }}, {{ room.owner.username }},
{{ room.sync.get_state_display|default:"not pushed" }}</li>
{% endfor %}</ul></section>{% endfor %}
{% if events is not None %}<section><h2>Latest history</h2><ul>
{% for event in events %}<li>{{ event.at|date:"D j M Y H:i" }} {{ event.actor_label }}
{{ event.action }} {{ event.target_label }}</li>{% endfor %}</ul></section>{% endif %}
</body></html>"""


def _today(now: datetime) -> tuple[datetime, datetime]:
    day = timezone.localdate(now)
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone).astimezone(UTC)
    return start, start + timedelta(days=1)


def _cards(now: datetime) -> list[tuple[str, Q, list[str]]]:
    today_start, today_end = _today(now)
    return [
        ("Live now", Q(valid_from__lte=now, valid_until__gt=now), ["valid_until", "pk"]),
        ("Today", Q(valid_from__lt=today_end, valid_until__gt=today_start), ["valid_from", "pk"]),
        ("Coming up", Q(valid_from__gt=now, valid_from__lte=now + RECENT), ["valid_from", "pk"]),
        (
            "Just ended",
            Q(valid_until__lte=now, valid_until__gt=now - RECENT),
            ["-valid_until", "-pk"],
        ),
        (
            "Not in step with ACS",
            Q(sync__state__in=[SyncState.FAILED, SyncState.STOPPED])
            | Q(sync__state=SyncState.PENDING, sync__marked_at__lte=now - OVERDUE),
            ["-updated_at", "-pk"],
        ),
    ]


@require_GET
def plain_dashboard(request: HttpRequest) -> HttpResponse:
    """The five cards, each a COUNT and its first rooms, then the ten latest events."""
    now = timezone.now()
    cards = []
    if request.user.has_perm("rooms.view_room"):
        rooms = Room.objects.filter(deleted_at__isnull=True)
        for title, condition, order in _cards(now):
            chosen = rooms.filter(condition)
            cards.append(
                {
                    "title": title,
                    "count": chosen.count(),
                    "rooms": list(
                        chosen.select_related("owner", "sync").order_by(*order)[:CARD_ROOMS]
                    ),
                }
            )
    events = None
    if request.user.has_perm("portal.view_auditevent"):
        events = list(AuditEvent.objects.order_by("-at", "-pk")[:10])
    html = engines["django"].from_string(TEMPLATE).render({"cards": cards, "events": events})
    return HttpResponse(html)
