"""Read queries over the audit trail that pages share."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from portal.models import AuditEvent
from portal.services import search_text

# Rows on one history page.
PAGE_SIZE = 50


def audit_events() -> QuerySet[AuditEvent]:
    """Every event, newest first; no join: events name their actor and target as text."""
    return AuditEvent.objects.defer("prev_hash", "hash").order_by("-at", "-pk")


def room_events(room_id: int) -> QuerySet[AuditEvent]:
    """A room's history, newest first: its own events and its participants' events."""
    return audit_events().filter(room_id=room_id)


def latest_events(limit: int = 10) -> list[AuditEvent]:
    """The newest events as the dashboard lists them: `limit` lines, repeated failures folded."""
    # A retried push may have failed several times in a row: read enough to fill the lines.
    return fold_repeated_failures(list(audit_events()[: limit * FOLD_READ_AHEAD]))[:limit]


# ----------------------------------------------------------------------------- repeated failures

# latest_events reads this many events per line it shows, so folded retries still fill the list.
FOLD_READ_AHEAD = 4


def _failure_signature(event: AuditEvent) -> tuple:
    outcome = event.acs_outcome or {}
    return (
        event.action,
        event.actor_label,
        outcome.get("status"),
        outcome.get("error_code"),
        outcome.get("error"),
    )


def fold_repeated_failures(events: list[AuditEvent]) -> list[AuditEvent]:
    """The events as history lists show them: repeated identical failures on one line.

    A push that fails again and again (ACS down, a throttled room) leaves one event per try in
    the trail, which stays so: append-only and hash-chained. Lists fold them when they show
    them: a failure whose next newer event on the same object (target type and id) is the same
    failure (action, actor, ACS status and error) is left out, and that newer one shows the
    count. `events` are newest first; each one kept gets `fold_count` (1 when alone) and
    `fold_first_at` (when the oldest of its run happened). Events of other objects in between
    do not break a run: on the history page several rooms failing at once interleave.
    """
    shown: list[AuditEvent] = []
    # Per object, the failure line its run of identical failures folds into (None: no run open).
    open_run: dict[tuple[str, str], AuditEvent | None] = {}
    for event in events:
        key = (event.target_type, event.target_id)
        head = open_run.get(key)
        failed = event.action.endswith("_failed")
        if failed and head is not None and _failure_signature(head) == _failure_signature(event):
            head.fold_count += 1  # type: ignore[attr-defined]
            head.fold_first_at = event.at  # type: ignore[attr-defined]
            continue
        event.fold_count = 1  # type: ignore[attr-defined]
        event.fold_first_at = event.at  # type: ignore[attr-defined]
        shown.append(event)
        open_run[key] = event if failed else None
    return shown


# ----------------------------------------------------------------------------- the history page

# Who made the events no signed-in user made (their actor_label is audit.SYSTEM_ACTOR, as the
# trail recorded it): named so wherever the portal shows or exports them.
SYNC_WORKER_NAME = "the sync worker"


@dataclass(frozen=True)
class HistoryFilters:
    """What the history page and its CSV export narrow the trail to; empty means everything."""

    # An actor label as recorded, or SYNC_WORKER for events nobody signed in made.
    actor: str = ""
    room: int | None = None
    # Text the target's label contains (a room's title, a person's name).
    target: str = ""
    # An action code, or a prefix ending in "." (`acs.` = every ACS answer).
    action: str = ""
    failures_only: bool = False
    # Inclusive start and exclusive end, as aware datetimes.
    since: datetime | None = None
    until: datetime | None = None


SYNC_WORKER = "-"


def history_events(filters: HistoryFilters) -> QuerySet[AuditEvent]:
    """The events matching the filters, newest first.

    Ordered by id alone: record() stamps `at` under the chain-head lock before inserting, so ids
    follow time, and the primary key gives keyset paging and streaming an index for free.
    """
    events = AuditEvent.objects.defer("prev_hash", "hash").order_by("-pk")
    if filters.actor == SYNC_WORKER:
        events = events.filter(actor_id__isnull=True)
    elif filters.actor:
        events = events.filter(actor_label=filters.actor)
    if filters.room is not None:
        events = events.filter(room_id=filters.room)
    target = search_text(filters.target)
    if target:
        events = events.filter(target_label__icontains=target)
    if filters.action.endswith("."):
        events = events.filter(action__startswith=filters.action)
    elif filters.action:
        events = events.filter(action=filters.action)
    if filters.failures_only:
        events = events.filter(action__endswith="_failed")
    if filters.since is not None:
        events = events.filter(at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(at__lt=filters.until)
    return events


@dataclass
class HistoryPage:
    events: list[AuditEvent] = field(default_factory=list)
    # Cursors for the neighbouring pages (`after=` newer, `before=` older); None at either end.
    newer: int | None = None
    older: int | None = None


def history_page(
    filters: HistoryFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> HistoryPage:
    """One page of matching events by keyset: two small queries on any page, and no COUNT(*)."""
    events = history_events(filters)
    if after is not None:
        # The page just newer than the cursor: read oldest first from it, then turn it round.
        rows = list(events.filter(pk__gt=after).order_by("pk")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        has_older = events.filter(pk__lte=after).exists()
        return HistoryPage(
            events=rows,
            newer=rows[0].pk if more_newer else None,
            older=(rows[-1].pk if rows else after + 1) if has_older else None,
        )
    if before is not None:
        rows = list(events.filter(pk__lt=before)[: size + 1])
        has_newer = events.filter(pk__gte=before).exists()
    else:
        rows = list(events[: size + 1])
        has_newer = False
    more_older = len(rows) > size
    rows = rows[:size]
    return HistoryPage(
        events=rows,
        # has_newer only when paging back from `before`.
        newer=(rows[0].pk if rows else before - 1) if has_newer and before is not None else None,
        older=rows[-1].pk if more_older else None,
    )


def history_actor_labels() -> list[str]:
    """Every actor label that appears in the trail (the sync worker's events left out)."""
    return _distinct(AuditEvent, "actor_label", where="actor_id IS NOT NULL")


def history_actions() -> list[str]:
    """Every action code that appears in the trail."""
    return _distinct(AuditEvent, "action")


def _distinct(model, field_name: str, *, where: str = "") -> list[str]:
    """The distinct non-empty values of an indexed column, one index probe per value.

    SELECT DISTINCT reads every row (42 ms for the actor labels of 100,000 events); this walks
    the index from each value to the next, on SQLite and PostgreSQL alike.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    condition = f" AND {where}" if where else ""
    sql = f"""
        WITH RECURSIVE walk(value) AS (
            SELECT MIN({column}) FROM {table} WHERE {column} > ''{condition}
            UNION ALL
            SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > walk.value{condition})
            FROM walk WHERE walk.value IS NOT NULL
        )
        SELECT value FROM walk WHERE value IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [value for (value,) in cursor.fetchall()]
