"""The audit trail, filtered as on the history page and paged by keyset (id cursors)."""

from datetime import datetime

from ninja import Query, Router, Schema
from pydantic import Field

from api.parsing import Id, Instant
from portal import selectors
from portal.services import require

router = Router(tags=["history"])


class EventOut(Schema):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    target_label: str
    room_id: int | None
    changes: dict
    acs_outcome: dict
    request_id: str


class HistoryPage(Schema):
    items: list[EventOut]
    # Cursors: ask `before=<older>` for the next (older) page, `after=<newer>` for the newer one.
    older: int | None
    newer: int | None


class HistoryParams(Schema):
    room: Id | None = None
    actor: str = Field(
        "", max_length=150, description="A username as recorded; '-' for the sync worker"
    )
    action: str = Field("", max_length=64, description="An action code, or a prefix ending in '.'")
    target: str = Field("", max_length=200, description="Text the target's label contains")
    failures_only: bool = False
    since: Instant | None = Field(None, description="Inclusive")
    until: Instant | None = Field(None, description="Exclusive")
    before: Id | None = Field(None, description="Events older than this id (the `older` cursor)")
    after: Id | None = Field(None, description="Events newer than this id (the `newer` cursor)")
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=200, description="Events per page")


def event_out(event) -> dict:
    return {
        "id": event.pk,
        "at": event.at,
        "actor": event.actor_label if event.actor_id else selectors.SYNC_WORKER_NAME,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "room_id": event.room_id,
        "changes": event.changes or {},
        "acs_outcome": event.acs_outcome or {},
        "request_id": event.request_id,
    }


@router.get("/history", response=HistoryPage, summary="Read the history")
def history(request, params: Query[HistoryParams]):
    """Newest first, 50 events a page unless `limit` says; no count, so every page costs the
    same."""
    require(request.auth, "portal.view_auditevent", "read the history")
    filters = selectors.HistoryFilters(
        actor=params.actor,
        room=params.room,
        target=params.target,
        action=params.action,
        failures_only=params.failures_only,
        since=params.since,
        until=params.until,
    )
    page = selectors.history_page(
        filters, before=params.before, after=params.after, size=params.limit
    )
    return {
        "items": [event_out(event) for event in page.events],
        "older": page.older,
        "newer": page.newer,
    }
