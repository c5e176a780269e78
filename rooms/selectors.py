"""Read queries for the room pages: the filtered list, the week calendar and the dashboard."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.core.paginator import Page
from django.db import connection
from django.db.models import (
    FETCH_PEERS,
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import IsNull
from django.utils import timezone

from identities.models import Identity
from outbox.models import Entry, SyncState
from portal.models import AuditEvent
from portal.paging import COUNT_CAP, capped_page
from portal.selectors import room_events
from portal.services import search_text
from rooms.models import MAX_ROOM_LIFETIME, Participant, Room
from rooms.rules import WindowState, not_ended_q, window_q, window_state

PER_PAGE = 25
# What a page of many rooms loads: every field but the big ones no such page shows (the notes,
# and what ACS confirmed: the roster of every room). only(), not defer(): Django refuses defer()
# beside select_related() of a relation without a column, such as Room.sync.
_LIST_FIELDS = [
    *(field.name for field in Room._meta.concrete_fields if field.name != "notes"),
    *(f"sync__{field.name}" for field in Entry._meta.concrete_fields if field.name != "acs"),
]
# A pending room whose push should have happened this long ago has lost its push.
OVERDUE_AFTER = timedelta(minutes=1)


# A sync filter value beside the SyncState ones: every room the dashboard lists as not in sync.
NEEDS_ATTENTION = "attention"
SYNC_CHOICES = [*SyncState.choices, (NEEDS_ATTENTION, "Needs attention")]

# Fields the list sorts by; a leading "-" in the sort parameter sorts descending.
SORTS = ("title", "valid_from", "valid_until", "sync_state", "created_at")
# What a sort names in the query: the sync state is the outbox row's.
_SORT_FIELDS = {"sync_state": "sync__state"}
# The list's own order, until a column is clicked: the rooms that matter now first (live ones
# soonest ending, then upcoming ones soonest starting, then ended ones most recently ended).
DEFAULT_SORT = "now"

# A Window filter value beside the WindowState ones: every room, ended ones too. No value at all
# (the default) is live and upcoming rooms: ended ones appear only when asked for.
ANY_TIME = "any"
STATE_CHOICES = [
    ("", "Live and upcoming"),
    *WindowState.choices,
    (ANY_TIME, "Any time"),
]


def parse_sort(value: str | None) -> str:
    """The sort asked for if the list knows it, else the default."""
    if value and value.removeprefix("-") in SORTS:
        return value
    return DEFAULT_SORT


def _now_first(now: datetime) -> tuple:
    """ORDER BY for DEFAULT_SORT: window state, then the time that matters in that state.

    One CASE ranks the states (rules.window_q, so the list sorts by the state it shows); each
    state's own time is a CASE that is NULL outside it, so within a rank only that one differs.
    """
    live, upcoming, ended = (
        window_q(state, now)
        for state in (WindowState.LIVE, WindowState.UPCOMING, WindowState.ENDED)
    )
    rank = Case(
        When(live, then=Value(0)),
        When(upcoming, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        rank.asc(),
        Case(When(live, then=F("valid_until"))).asc(),
        Case(When(upcoming, then=F("valid_from"))).asc(),
        Case(When(ended, then=F("valid_until"))).desc(),
        F("pk").asc(),
    )


@dataclass(frozen=True)
class RoomFilters:
    """What the rooms list is narrowed to and sorted by; empty values filter nothing."""

    q: str = ""
    state: str = ""
    sync: str = ""
    owner: int | None = None
    # Rooms valid at some time on this day, in the user's time zone.
    day: date | None = None
    sort: str = DEFAULT_SORT

    @property
    def active(self) -> bool:
        return bool(self.q or self.state or self.sync or self.owner or self.day)

    @property
    def shows_ended(self) -> bool:
        """Whether ended rooms can be in the list: only when the Window filter asks for them."""
        return self.state in (WindowState.ENDED, ANY_TIME)


def live_rooms() -> QuerySet[Room]:
    """Rooms not deleted: a deleted room stays as a tombstone until ACS confirms."""
    return Room.objects.filter(deleted_at__isnull=True)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of the day and of the next in the active time zone, as UTC instants.

    In UTC because Python compares and subtracts two times of one zone by their wall clocks, which
    is wrong across a daylight saving change.
    """
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def overlapping(start: datetime, end: datetime) -> Q:
    """Rooms valid at some moment between start and end."""
    # No room lasts longer than MAX_ROOM_LIFETIME, so one that ends after `start` began less
    # than that before it, and one that starts before `end` ends less than that after it: the
    # bounds let the database read a slice of the valid_from index or of the valid_until one
    # (whichever its statistics say is smaller) rather than every room on one side of the day.
    # Either slice holds at most the rooms of 180 days, not the whole table.
    return Q(
        valid_from__lt=end,
        valid_until__gt=start,
        valid_from__gt=start - MAX_ROOM_LIFETIME,
        valid_until__lt=end + MAX_ROOM_LIFETIME,
    )


def needs_attention_q(now: datetime) -> Q:
    """Rooms not in step with ACS: refused, failing, or pending well past their push time."""
    overdue = now - OVERDUE_AFTER
    pending_overdue = Q(sync__state=SyncState.PENDING, sync__marked_at__lte=overdue)
    return Q(sync__state__in=[SyncState.FAILED, SyncState.STOPPED]) | pending_overdue


# A search whose term names more people than this is "broad" (see _matches).
MANY_PEOPLE = 500


@dataclass(frozen=True)
class _Match:
    condition: Q
    # Few rooms can match: sort the matches themselves, not the list's candidates.
    narrow: bool


def _matches(text: str) -> _Match:
    """Rooms whose title or ACS id holds the text, or with a person whose name or e-mail does.

    Two shapes, chosen by how many people the term names (one LIMITed count, index-served):
    - Narrow (the usual search: a name, a title word): on PostgreSQL each condition is
      index-served, so one BitmapOr reads just the matching rooms. The trigram indexes
      (rooms/0009, identities/0007) serve UPPER(...) LIKE '%text%', and the rooms of the people
      who match come as `id = ANY(ARRAY(...))` (portal/lookups.py), worked out once through the
      participants' identity index. With `id IN (subquery)` in the OR the database scanned every
      room (100,000 rooms, "budget": 114 ms for the count, against 4 ms).
    - Broad (a term in hundreds of people's names or every e-mail's domain): their rooms would be
      most rooms, so listing them first costs as much as the table; instead each room the list
      reaches in its own order is tested (EXISTS), and the page stops after its 25 rooms.
    SQLite has no trigram index: there the titles are scanned (docs/benchmarks.md).
    """
    # One BitmapOr of the two trigram indexes on PostgreSQL.
    identities = (
        Identity.objects.order_by()
        .filter(Q(display_name__icontains=text) | Q(email__icontains=text))
        .values("pk")
    )
    in_text = Q(title__icontains=text) | Q(acs_id__icontains=text)
    if identities.order_by()[: MANY_PEOPLE + 1].count() > MANY_PEOPLE:
        # A scalar subquery, not EXISTS: PostgreSQL turns an EXISTS in an OR into a hash of
        # every participant (1,000,000 rows read for a page of 25: 0.9 s); this one is an index
        # probe of the room's own participants, against the matching people hashed once.
        one_of_theirs = (
            Participant.objects.order_by()
            .filter(room=OuterRef("pk"), identity__in=identities)
            .values("pk")[:1]
        )
        return _Match(in_text | Q(IsNull(Subquery(one_of_theirs), False)), narrow=False)
    their_rooms = Participant.objects.order_by().filter(identity__in=identities).values("room_id")
    return _Match(in_text | Q(pk__in_array=their_rooms.distinct()), narrow=True)


def _participant_count() -> Coalesce:
    # A correlated subquery, not Count() over a join: no GROUP BY over every room column, and
    # the database works it out only for the rows the page returns.
    per_room = (
        Participant.objects.filter(room=OuterRef("pk"))
        .order_by()
        .values("room")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(per_room, output_field=IntegerField()), 0)


class _WindowStateField(CharField):
    """Reads the annotation back as a WindowState, so a template shows its label."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else WindowState(value)


def _window_state(now: datetime) -> Case:
    # rules.window_state() in SQL: the same bounds, from the same filters.
    return Case(
        When(window_q(WindowState.UPCOMING, now), then=Value(WindowState.UPCOMING.value)),
        When(window_q(WindowState.ENDED, now), then=Value(WindowState.ENDED.value)),
        default=Value(WindowState.LIVE.value),
        output_field=_WindowStateField(),
    )


def _for_display(rooms: QuerySet[Room], now: datetime) -> QuerySet[Room]:
    """What a page of many rooms shows: window state, and any field missed loads for all peers."""
    return (
        rooms.select_related("sync")
        .only(*_LIST_FIELDS)
        .annotate(window_state=_window_state(now))
        .fetch_mode(FETCH_PEERS)
    )


def _search(filters: RoomFilters) -> _Match | None:
    query = search_text(filters.q)
    return _matches(query) if query else None


def _filtered(*, user, filters: RoomFilters, now: datetime, match: _Match | None) -> QuerySet[Room]:
    """Live rooms matching the filters (`match`: the search's), sorted; no join and no per-row
    subquery yet."""
    if not user.has_perm("rooms.view_room"):
        return Room.objects.none()
    rooms = live_rooms()
    if match:
        rooms = rooms.filter(match.condition)
    if filters.state in WindowState.values:
        rooms = rooms.filter(window_q(filters.state, now))
    elif filters.state != ANY_TIME:
        rooms = rooms.filter(not_ended_q(now))
    if filters.sync == NEEDS_ATTENTION:
        rooms = rooms.filter(needs_attention_q(now))
    elif filters.sync in SyncState.values:
        rooms = rooms.filter(sync__state=filters.sync)
    if filters.owner:
        rooms = rooms.filter(owner_id=filters.owner)
    if filters.day:
        start, end = day_bounds(filters.day)
        rooms = rooms.filter(overlapping(start, end))
    sort = parse_sort(filters.sort)
    if sort == DEFAULT_SORT:
        return rooms.order_by(*_now_first(now))
    name = sort.removeprefix("-")
    descending = sort != name
    # Titles sort as people read them, not capitals first.
    key = Lower(name) if name == "title" else F(_SORT_FIELDS.get(name, name))
    # The pk breaks ties, so a room never shows on two pages or on none.
    order = (key.desc(), "-pk") if descending else (key.asc(), "pk")
    return rooms.order_by(*order)


def _with_columns(rooms: QuerySet[Room], now: datetime) -> QuerySet[Room]:
    """The list's columns: owner, participant count, window state."""
    return _for_display(rooms.select_related("owner"), now).annotate(
        participant_count=_participant_count()
    )


def room_list(*, user, filters: RoomFilters, now: datetime | None = None) -> QuerySet[Room]:
    """Live rooms matching the filters, sorted, with owner, participant count and window state."""
    now = now or timezone.now()
    return _with_columns(
        _filtered(user=user, filters=filters, now=now, match=_search(filters)), now
    )


def room_page(*, user, filters: RoomFilters, number, now: datetime | None = None) -> Page:
    """One page of room_list(): a bad number shows the first page, one past the end the last.

    Two queries whatever the page: the capped count, and the page's rooms with their columns
    (a search asks first how many people its term names: _matches).
    """
    now = now or timezone.now()
    match = _search(filters)
    rooms = _filtered(user=user, filters=filters, now=now, match=match)
    # Counted up to COUNT_CAP (or the asked page's end), so "more than 1,000 rooms"; counting
    # the plain query keeps the COUNT free of the join and the per-row subqueries.
    page = capped_page(rooms, PER_PAGE, number, cap=COUNT_CAP)
    if not page.paginator.count:
        page.object_list = Room.objects.none()
        return page
    # The page's ids come from the plain query, as a subquery; only those rooms get the join and
    # the per-row subqueries, where OFFSET would make the database work them out for every room
    # it skips (page 200 took 0.45 s that way, against 0.05 s for page 1).
    start, end = page.start_index() - 1, page.end_index()
    # The first pages (up to COUNT_CAP rooms in) are sorted among each state's first rooms; a
    # deeper one costs as much as its offset either way, and fetching each candidate's row then
    # cost more than sorting them all (PostgreSQL, 100,000 rooms, page 300: 57 ms against 41).
    # A narrow search's matches are few, and sorting them is cheaper than walking each state's
    # rooms to find them (100,000 rooms, "budget": 17 ms against 56).
    narrow = match is not None and match.narrow
    if parse_sort(filters.sort) == DEFAULT_SORT and end <= COUNT_CAP and not narrow:
        # Sorted and sliced among the candidates only, still without the columns.
        candidates = _now_first_candidates(rooms, filters, now, end)
        rooms = Room.objects.filter(pk__in=candidates).order_by(*rooms.query.order_by)
    ids = rooms.values("pk")[start:end]
    page.object_list = _with_columns(Room.objects.filter(pk__in=ids), now).order_by(
        *rooms.query.order_by
    )
    return page


# Each window state's rooms in the order the default sort gives them within that state.
_STATE_ORDER = {
    WindowState.LIVE: ("valid_until", "pk"),
    WindowState.UPCOMING: ("valid_from", "pk"),
    WindowState.ENDED: ("-valid_until", "pk"),
}


def _now_first_candidates(rooms: QuerySet[Room], filters: RoomFilters, now: datetime, end: int):
    """The ids of the first `end` rooms of each window state the list can hold, in one UNION.

    The default order is the live rooms, then the upcoming, then the ended ones, each in an
    order an index of live rooms holds (room_live_by_end, room_live_by_start): so the list's
    first `end` rooms are among these, and the database reads `end` index entries per state
    where sorting the CASE order made it read and sort every matching room (PostgreSQL,
    100,000 rooms: 22 ms for page 1).

    SQLite refuses a LIMIT directly in a UNION's arm, so there each arm is wrapped as
    IN (... LIMIT); PostgreSQL takes the arms as they are (wrapped, it hash-joined every room's
    id against a deep page's arms).
    """
    if filters.state in WindowState.values:
        states = [WindowState(filters.state)]
    elif filters.shows_ended:
        states = [WindowState.LIVE, WindowState.UPCOMING, WindowState.ENDED]
    else:
        states = [WindowState.LIVE, WindowState.UPCOMING]
    arms = [
        rooms.filter(window_q(state, now)).order_by(*_STATE_ORDER[state]).values("pk")[:end]
        for state in states
    ]
    if len(arms) == 1:
        return arms[0]
    if not connection.features.supports_slicing_ordering_in_compound:
        arms = [Room.objects.filter(pk__in=arm).values("pk") for arm in arms]
    return arms[0].union(*arms[1:], all=True)


def room_owners() -> QuerySet:
    """Users who own at least one live room: the owner filter's choices."""
    from django.contrib.auth import get_user_model

    owns = live_rooms().filter(owner=OuterRef("pk"))
    return (
        get_user_model()
        .objects.filter(Exists(owns))
        .order_by("username")
        .only("pk", "username", "first_name", "last_name")
    )


# --------------------------------------------------------------------------- week calendar


@dataclass(frozen=True)
class CalendarEntry:
    """A room's part of one day: clipped to the day, marked when it runs on either side."""

    room: Room
    start: datetime
    end: datetime
    continues_before: bool
    continues_after: bool
    # Live, upcoming or ended now, as the list and the dashboard say (rules.window_state).
    state: WindowState = WindowState.UPCOMING


@dataclass
class CalendarDay:
    date: date
    start: datetime
    end: datetime
    is_today: bool
    entries: list[CalendarEntry] = field(default_factory=list)
    more: int = 0


@dataclass(frozen=True)
class Week:
    start: date
    days: list[CalendarDay]

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def previous(self) -> date:
        return self.start - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.start + timedelta(days=7)


def week_start(day: date) -> date:
    """The Monday of the week the day falls in."""
    return day - timedelta(days=day.weekday())


def week_calendar(*, user, day: date, per_day: int = 12, now: datetime | None = None) -> Week:
    """The week holding `day`, Monday first, in the user's zone, each day's rooms clipped to it."""
    now = now or timezone.now()
    monday = week_start(day)
    today = timezone.localdate()
    days = []
    for offset in range(7):
        current = monday + timedelta(days=offset)
        start, end = day_bounds(current)
        days.append(CalendarDay(date=current, start=start, end=end, is_today=current == today))
    if not user.has_perm("rooms.view_room"):
        return Week(start=monday, days=days)
    rooms = (
        live_rooms()
        .filter(overlapping(days[0].start, days[-1].end))
        .select_related("sync")
        .only("pk", "title", "valid_from", "valid_until", "sync__state")
        .order_by("valid_from", "pk")
        .fetch_mode(FETCH_PEERS)
    )
    for room in rooms:
        for cell in days:
            if room.valid_from >= cell.end or room.valid_until <= cell.start:
                continue
            if len(cell.entries) >= per_day:
                cell.more += 1
                continue
            cell.entries.append(
                CalendarEntry(
                    room=room,
                    start=max(room.valid_from, cell.start),
                    end=min(room.valid_until, cell.end),
                    continues_before=room.valid_from < cell.start,
                    continues_after=room.valid_until > cell.end,
                    state=window_state(room.valid_from, room.valid_until, now),
                )
            )
    return Week(start=monday, days=days)


# --------------------------------------------------------------------------- dashboard


@dataclass(frozen=True)
class DashboardRooms:
    """Counts and the first few rooms of each dashboard card."""

    counts: dict[str, int]
    live: list[Room]
    today: list[Room]
    upcoming: list[Room]
    expired: list[Room]
    out_of_sync: list[Room]
    today_date: date

    @property
    def count_labels(self) -> dict[str, str]:
        """Each count as the card shows it: "1,000+" past COUNT_CAP, which is all it counts."""
        return {
            name: f"{COUNT_CAP:,}+" if count > COUNT_CAP else str(count)
            for name, count in self.counts.items()
        }


RECENT = timedelta(days=7)


def _dashboard_cards(now: datetime, today: date) -> dict[str, tuple[QuerySet[Room], list[str]]]:
    """Each card's rooms and its order; every one a range an index of live rooms serves.

    Live and ended: room_live_by_end, from now forwards or backwards. Upcoming: valid_from
    forwards from now. Today: see overlapping().
    """
    today_start, today_end = day_bounds(today)
    return {
        "live": (live_rooms().filter(window_q(WindowState.LIVE, now)), ["valid_until", "pk"]),
        "today": (live_rooms().filter(overlapping(today_start, today_end)), ["valid_from", "pk"]),
        "upcoming": (
            live_rooms().filter(window_q(WindowState.UPCOMING, now), valid_from__lte=now + RECENT),
            ["valid_from", "pk"],
        ),
        "expired": (
            live_rooms().filter(window_q(WindowState.ENDED, now), valid_until__gt=now - RECENT),
            ["-valid_until", "-pk"],
        ),
        "out_of_sync": (live_rooms().filter(needs_attention_q(now)), ["-updated_at", "-pk"]),
    }


def _firsts_and_counts(
    cards: dict[str, tuple[QuerySet[Room], list[str]]], limits: dict[str, int]
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Every card's first room ids (LIMIT n, in its order) and its count up to COUNT_CAP + 1.

    One statement: a UNION ALL of small queries, each of which an index answers by reading a
    few entries, rather than OR'd IN (...) conditions, which made the database test every room.
    """
    parts: list[str] = []
    params: list = []
    for number, (name, (rooms, order)) in enumerate(cards.items()):
        firsts = rooms.order_by(*order).values("pk")[: limits[name]]
        capped = rooms.order_by().values("pk")[: COUNT_CAP + 1]
        for kind, query, column in ((0, firsts, "t.pk"), (1, capped, "COUNT(*)")):
            sql, query_params = query.query.sql_with_params()
            parts.append(f"SELECT {number}, {kind}, {column} FROM ({sql}) t")
            params.extend(query_params)
    names = list(cards)
    firsts_of: dict[str, list[int]] = {name: [] for name in names}
    counts = dict.fromkeys(names, 0)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for number, kind, value in cursor.fetchall():
            if kind == 0:
                firsts_of[names[number]].append(value)
            else:
                counts[names[number]] = value
    return firsts_of, counts


def dashboard_rooms(*, user, now: datetime | None = None, limit: int = 5) -> DashboardRooms | None:
    """What the dashboard's room cards show; None when the user may not view rooms.

    Two queries whatever the number of rooms: each card's first ids and capped count, then
    those rooms with what the cards show of them.
    """
    if not user.has_perm("rooms.view_room"):
        return None
    now = now or timezone.now()
    today = timezone.localdate(now)
    cards = _dashboard_cards(now, today)
    limits = {name: limit * 2 if name == "out_of_sync" else limit for name in cards}
    firsts, counts = _firsts_and_counts(cards, limits)
    wanted = {pk for ids in firsts.values() for pk in ids}
    rooms = {room.pk: room for room in _for_display(live_rooms().filter(pk__in=wanted), now)}
    lists = {
        name: _in_order([rooms[pk] for pk in firsts[name] if pk in rooms], order)
        for name, (_, order) in cards.items()
    }
    return DashboardRooms(counts=counts, today_date=today, **lists)


def _in_order(rooms: list[Room], order: list[str]) -> list[Room]:
    """Sort fetched rooms as order_by(*order) would (every field here is non-null)."""
    for name in reversed(order):
        field = name.removeprefix("-")
        rooms = sorted(rooms, key=lambda room: getattr(room, field), reverse=name != field)
    return rooms


# --------------------------------------------------------------------------- a deleted room

# The history of a room: what a deleted room's page is read from once its row is gone.
_CREATED, _DELETED = "portal.room.created", "portal.room.deleted"
_ADDED, _REMOVED, _ROLE = (
    "portal.participant.added",
    "portal.participant.removed",
    "portal.participant.role_changed",
)
# What ACS answered after the delete, shown on the deleted room's page (newest first).
ACS_ANSWERS_SHOWN = 10


@dataclass(frozen=True)
class FormerParticipant:
    """Someone who was in a room when it was deleted."""

    name: str
    email: str
    role: str
    added_at: datetime | None = None


@dataclass(frozen=True)
class DeletedRoom:
    """What a deleted room's read-only page shows.

    `room` is the tombstone while ACS has not confirmed the delete; once it has, the sync
    removes the row (rooms.sync) and `room` is rebuilt, unsaved, from the history: the delete
    event recorded every field as it was. The people then are those the history shows in the
    room at the delete (name, e-mail, role), as every way of adding, re-roling and removing
    someone records it.
    """

    room: Room
    owner: str
    deleted_at: datetime
    deleted_by: str
    people: list[FormerParticipant]
    # True once ACS confirmed and the row went: the page reads the history only.
    from_history: bool
    # What ACS answered since the delete, newest first.
    acs_answers: list[AuditEvent]
    # Why, when the portal deleted it on its own (a series cancelled), as the event says.
    reason: str = ""


def deleted_room(*, user, pk: int) -> DeletedRoom | None:
    """The deleted room with this id, from its tombstone or its history; None if there is no
    such room, or it is not deleted. Four queries at most, however many people it had."""
    if not user.has_perm("rooms.view_room"):
        return None
    row = Room.objects.select_related("owner", "sync").filter(pk=pk).first()
    if row is not None and row.deleted_at is None:
        return None
    # Newest first: the first of each action is its latest.
    marks: dict[str, AuditEvent] = {}
    for event in room_events(pk).filter(action__in=[_CREATED, _DELETED]):
        marks.setdefault(event.action, event)
    deleted = marks.get(_DELETED)
    if row is None and deleted is None:
        return None
    if deleted is not None:
        since = deleted.at
    else:
        assert row is not None and row.deleted_at is not None  # a tombstone: see above
        since = row.deleted_at
    answers = list(
        room_events(pk).filter(action__startswith="acs.", at__gte=since)[:ACS_ANSWERS_SHOWN]
    )
    changes = deleted.changes if deleted is not None else {}
    reason = changes.get("series", {}).get("after") or ""
    if row is not None:
        assert row.deleted_at is not None  # a live room returned None above
        people = [
            FormerParticipant(
                name=p.identity.display_name,
                email=p.identity.email,
                role=p.role,
                added_at=p.added_at,
            )
            for p in Participant.objects.filter(room=row)
            .select_related("identity")
            .order_by("identity__display_name", "pk")
        ]
        return DeletedRoom(
            room=row,
            owner=row.owner.get_full_name() or row.owner.get_username(),
            deleted_at=row.deleted_at,
            deleted_by=deleted.actor_label if deleted is not None else "",
            people=people,
            from_history=False,
            acs_answers=answers,
            reason=str(reason),
        )
    assert deleted is not None  # no row and no delete event returned above
    created = marks.get(_CREATED)
    return DeletedRoom(
        room=_room_as_deleted(pk, deleted),
        owner=created.actor_label if created is not None else "",
        deleted_at=deleted.at,
        deleted_by=deleted.actor_label,
        people=_people_at(pk, deleted),
        from_history=True,
        acs_answers=answers,
        reason=str(reason),
    )


def _room_as_deleted(pk: int, deleted: AuditEvent) -> Room:
    """The room as its delete event recorded it (every field's value before), unsaved."""
    before = {name: change.get("before") for name, change in deleted.changes.items()}

    def when(name: str) -> datetime | None:
        value = before.get(name)
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    fields = {
        "title": str(before.get("title") or deleted.target_label or f"Room {pk}"),
        "notes": str(before.get("notes") or ""),
        # None when an event did not record it (the page then says "Not recorded").
        "valid_from": when("valid_from"),
        "valid_until": when("valid_until"),
        "pstn_dial_out_enabled": bool(before.get("pstn_dial_out_enabled")),
    }
    return Room(pk=pk, deleted_at=deleted.at, **fields)


def _people_at(pk: int, deleted: AuditEvent) -> list[FormerParticipant]:
    """Who was in the room when it was deleted, by replaying its people's events up to then."""
    roster: dict[str, FormerParticipant] = {}
    events = (
        room_events(pk)
        .filter(action__in=[_ADDED, _REMOVED, _ROLE], pk__lt=deleted.pk)
        .order_by("at", "pk")
        .only("action", "target_id", "changes", "at")
    )
    for event in events.iterator(chunk_size=2000):
        after = {name: (change or {}).get("after") for name, change in event.changes.items()}
        if event.action == _ADDED and after.get("identity"):
            name, _, email = str(after["identity"]).partition(" <")
            roster[event.target_id] = FormerParticipant(
                name=name,
                email=email.removesuffix(">"),
                role=str(after.get("role") or ""),
                added_at=event.at,
            )
        elif event.action == _ROLE and event.target_id in roster and after.get("role"):
            former = roster[event.target_id]
            roster[event.target_id] = FormerParticipant(
                former.name, former.email, str(after["role"]), former.added_at
            )
        elif event.action == _REMOVED:
            roster.pop(event.target_id, None)
    return sorted(roster.values(), key=lambda person: (person.name.casefold(), person.email))
