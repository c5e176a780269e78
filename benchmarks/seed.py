"""Bulk data for the benchmarks: users, identities, rooms, participants and audit events.

Rooms and identities go in with bulk_create, participants and audit events with COPY on
PostgreSQL and executemany on SQLite (for 100,000 rows the ORM spends most of its time
compiling the statements); neither fires a signal, so nothing is enqueued. Rooms and
identities are recorded synced in the outbox, a room with what rooms.sync.desired_state() would
send as what ACS holds, so a push of any is a no-op.
The audit events extend the hash chain under the chain head's lock, each hash being
AuditEvent.compute_hash() of the very values inserted, so `manage.py audit_verify` passes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import batched

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from acs_emulator.timeutil import to_ticks
from identities.models import Identity
from invitations.models import RoomCalendar
from invitations.services import skip_history
from outbox import engine
from portal import audit
from portal.access import ROLE_ADMINS, SCHEDULERS
from portal.models import AuditEvent
from rooms.models import Participant, Role, Room


@dataclass(frozen=True)
class Sizes:
    rooms: int = 10_000
    per_room: int = 10
    identities: int = 5_000
    big_room: int = 500
    events: int = 100_000


FULL = Sizes()
QUICK = Sizes(rooms=1_000, identities=1_000, events=10_000)

# Not a real ACS resource: the raw ids only have to look like ACS users and be unique.
RESOURCE = "0b5e1c2d-0000-4000-8000-00000000be4c"
# ACS room ids the emulator never makes (it makes 16-17 digits), so the two never collide.
ROOM_ID_BASE = 9_000_000_000_000_000_000

TOPICS = [
    "Budget review",
    "Sprint planning",
    "Customer call",
    "Board meeting",
    "Design critique",
    "Town hall",
    "Onboarding",
    "Incident review",
    "Training session",
    "Sales pipeline",
    "Hiring panel",
    "Architecture forum",
]
TEAMS = ["Finance", "Platform", "Support", "Marketing", "Legal", "Research", "Operations"]
FIRST = ["Ada", "Grace", "Alan", "Katherine", "Tim", "Margaret", "Edsger", "Barbara", "Donald"]
FIRST += ["Frances", "John", "Radia", "Ken", "Lynn", "Niklaus", "Sophie", "Dennis", "Hedy"]
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Berners-Lee", "Hamilton", "Dijkstra"]
LAST += ["Liskov", "Knuth", "Allen", "McCarthy", "Perlman", "Thompson", "Conway", "Wirth"]


@dataclass
class Seeded:
    superuser: object
    scheduler: object
    role_admin: object
    owners: list
    big_room: Room
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def raw_id(index: int) -> str:
    return f"8:acs:{RESOURCE}_{uuid.UUID(int=(1 << 64) + index)}"


def acs_room_id(index: int) -> str:
    return str(ROOM_ID_BASE + index)


def _iso(value: datetime) -> str:
    # The exact form rooms.sync.desired_state() uses, so acs_state compares equal.
    return value.astimezone(UTC).isoformat()


def _window(index: int, now: datetime) -> tuple[datetime, datetime]:
    """A third of the rooms ended, a third live now, a third upcoming (within ACS's 180 days)."""
    hours = 1 + index % 4
    kind = index % 3
    if kind == 0:
        start = now - timedelta(days=1 + index % 60, hours=hours)
    elif kind == 1:
        start = now - timedelta(minutes=30 + index % 120)
        hours += 3
    else:
        start = now + timedelta(days=index % 90, hours=1 + index % 12)
    return start, start + timedelta(hours=hours)


def _role(position: int) -> str:
    if position == 0:
        return Role.PRESENTER
    if position == 1:
        return Role.COLLABORATOR
    return Role.CONSUMER if position % 4 == 3 else Role.ATTENDEE


def _insert(model, columns: list[str], rows: Iterable[tuple]) -> None:
    """INSERT rows (values already adapted for this database): COPY on PostgreSQL, batches of
    5,000 through executemany elsewhere."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg 3's COPY streams the rows: 1,000,000 go in seconds, not minutes.
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        for batch in batched(rows, 5000):
            cursor.executemany(sql, batch)


def _users() -> tuple:
    User = get_user_model()
    superuser = User.objects.create_superuser(username="bench-root", password=None)
    scheduler = User.objects.create_user(username="bench-sam", password=None, is_staff=True)
    role_admin = User.objects.create_user(username="bench-rita", password=None, is_staff=True)
    scheduler.groups.add(Group.objects.get(name=SCHEDULERS))
    role_admin.groups.add(Group.objects.get(name=ROLE_ADMINS))
    owners = [superuser, scheduler, role_admin]
    for n in range(1, 4):
        owner = User.objects.create_user(username=f"bench-owner{n}", password=None, is_staff=True)
        owner.groups.add(Group.objects.get(name=SCHEDULERS))
        owners.append(owner)
    return superuser, scheduler, role_admin, owners


def _identities(count: int, creator, now: datetime) -> list[Identity]:
    rows = []
    for i in range(count):
        first = FIRST[i % len(FIRST)]
        last = LAST[(i // len(FIRST)) % len(LAST)]
        rows.append(
            Identity(
                raw_id=raw_id(i),
                display_name=f"{first} {last}",
                email=f"{first}.{last}.{i}@example.com".lower(),
                created_by=creator,
            )
        )
    identities = Identity.objects.bulk_create(rows, batch_size=2000)
    engine.record_synced_many("identity", {identity.pk: {} for identity in identities}, at=now)
    return identities


def _room(index: int, title: str, start, end, owner, roster: dict[str, str], now) -> Room:
    """An unsaved room; `acs_state` (no field) is what ACS holds for it, for _record_synced()."""
    pstn = index % 7 == 0
    room = Room(
        acs_id=acs_room_id(index),
        title=title,
        notes="" if index % 5 else f"Agenda for meeting {index}: review, decisions, next steps.",
        valid_from=start,
        valid_until=end,
        pstn_dial_out_enabled=pstn,
        owner=owner,
    )
    room.acs_state = {
        "valid_from": _iso(start),
        "valid_until": _iso(end),
        "pstn_dial_out_enabled": pstn,
        "participants": roster,
    }
    return room


def _record_synced(rooms: list[Room], now: datetime) -> None:
    engine.record_synced_many(
        "room", {room.pk: {"state": room.acs_state} for room in rooms}, at=now
    )


def _rooms(sizes: Sizes, identities: list[Identity], owners: list, now: datetime):
    """The rooms (the 500-person room last) and, per room, its (identity, role) list."""
    per_room = min(sizes.per_room, len(identities))
    rooms, rosters = [], []
    # The big room is the last of sizes.rooms, so a full run has 10,000 rooms: 400 full pages.
    for i in range(sizes.rooms - 1):
        start, end = _window(i, now)
        title = f"{TOPICS[i % len(TOPICS)]} - {TEAMS[(i // len(TOPICS)) % len(TEAMS)]} #{i:05d}"
        first = (i * 7) % len(identities)
        people = [(identities[(first + j) % len(identities)], _role(j)) for j in range(per_room)]
        rosters.append(people)
        roster = {identity.raw_id: role for identity, role in people}
        rooms.append(_room(i, title, start, end, owners[i % len(owners)], roster, now))
    # The big room: live now, one person per identity up to big_room.
    start = now - timedelta(minutes=15)
    people = [
        (identity, Role.PRESENTER if j < 5 else Role.ATTENDEE)
        for j, identity in enumerate(identities[: sizes.big_room])
    ]
    rosters.append(people)
    roster = {identity.raw_id: role for identity, role in people}
    title = f"All-hands with {len(people)} people"
    end = start + timedelta(hours=6)
    rooms.append(_room(sizes.rooms - 1, title, start, end, owners[0], roster, now))
    return rooms, rosters


EVENT_COLUMNS = [
    "at",
    "actor",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "room_id",
    "changes",
    "acs_outcome",
    "request_id",
    "prev_hash",
    "hash",
]


def _event(event: AuditEvent, i: int, room: Room, actor) -> None:
    """Fill `event` (one scratch instance, reused) with the i-th event's content."""
    system = i % 4 == 2
    event.actor_id = None if system else actor.pk
    event.actor_label = audit.SYSTEM_ACTOR if system else actor.username
    event.target_type = "rooms.room"
    event.target_id = str(room.pk)
    event.target_label = room.title
    event.room_id = room.pk
    event.request_id = "" if system else f"{i:032x}"
    event.changes, event.acs_outcome = {}, {}
    kind = i % 4
    if kind == 0:
        event.action = "portal.room.updated"
        event.changes = {"notes": {"before": "", "after": f"Agenda v{i}"}}
    elif kind == 1:
        event.action = "portal.participant.role_changed"
        event.target_type = "rooms.participant"
        event.target_label = f"Person {i % 997} in {room.title}"
        event.changes = {"role": {"before": "Attendee", "after": "Presenter"}}
    elif kind == 2:
        event.action = "acs.room.participants_pushed"
        event.acs_outcome = {
            "operation": "update_participants",
            "status": 200,
            "duration_ms": 3 + i % 40,
            "error_code": "",
            "error": "",
            "request_id": str(uuid.UUID(int=i)),
        }
    else:
        event.action = "portal.room.created"
        event.changes = {"title": {"before": None, "after": room.title}}


def _events(count: int, rooms: list[Room], owners: list, now: datetime) -> int:
    """Append `count` events chained to the current head, exactly as record() chains them."""
    if not count:
        return 0
    step = timedelta(days=90) / count
    start = now - timedelta(days=90)
    adapt_time = connection.ops.adapt_datetimefield_value
    adapt_json = connection.ops.adapt_json_value
    with transaction.atomic():
        # The lock record() takes: nothing else may append while the chain is extended.
        head = audit._lock_chain_head()
        prev = head.hash
        event = AuditEvent()
        rows = []
        for i in range(count):
            _event(event, i, rooms[(i * 31) % len(rooms)], owners[i % len(owners)])
            event.at = start + step * i
            event.prev_hash = prev
            prev = event.compute_hash()
            rows.append(
                (
                    adapt_time(event.at),
                    event.actor_id,
                    event.actor_label,
                    event.action,
                    event.target_type,
                    event.target_id,
                    event.target_label,
                    event.room_id,
                    adapt_json(event.changes, None),
                    adapt_json(event.acs_outcome, None),
                    event.request_id,
                    event.prev_hash,
                    prev,
                )
            )
        _insert(AuditEvent, EVENT_COLUMNS, rows)
        head.hash = prev
        head.last_event_id = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True)[0]
        head.length += count
        head.save(update_fields=["hash", "last_event_id", "length"])
    return count


def _vacuum_analyze() -> None:
    """What autovacuum does on a live PostgreSQL a while after a bulk load (it is off on the
    bench server): planner statistics (without them the identities page's room counts took
    243 ms of SQL instead of 4 ms) and the visibility map, without which an index-only scan
    still reads the table. VACUUM cannot run in a transaction (a test's): ANALYZE alone then."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")


def seed(sizes: Sizes = FULL) -> Seeded:
    """Fill an empty portal database; returns the users, the big room and the timings."""
    now = timezone.now().replace(microsecond=0)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic():
        superuser, scheduler, role_admin, owners = _users()
        timings["users"] = time.perf_counter() - started

        mark = time.perf_counter()
        identities = _identities(sizes.identities, superuser, now)
        timings["identities"] = time.perf_counter() - mark

        mark = time.perf_counter()
        rooms, rosters = _rooms(sizes, identities, owners, now)
        rooms = Room.objects.bulk_create(rooms, batch_size=1000)
        _record_synced(rooms, now)
        timings["rooms"] = time.perf_counter() - mark

        mark = time.perf_counter()
        stamp = connection.ops.adapt_datetimefield_value(now)
        participants = [
            (room.pk, identity.pk, role, stamp, stamp)
            for room, people in zip(rooms, rosters, strict=True)
            for identity, role in people
        ]
        _insert(Participant, ["room", "identity", "role", "added_at", "updated_at"], participants)
        timings["participants"] = time.perf_counter() - mark

    mark = time.perf_counter()
    events = _events(sizes.events, rooms, owners, now)
    # History loaded in bulk is no news to e-mail: the invitations scan starts after it.
    skip_history()
    timings["events"] = time.perf_counter() - mark
    if connection.vendor == "postgresql":
        _vacuum_analyze()
    timings["total"] = time.perf_counter() - started
    return Seeded(
        superuser=superuser,
        scheduler=scheduler,
        role_admin=role_admin,
        owners=owners,
        big_room=rooms[-1],
        timings=timings,
        counts={
            "rooms": len(rooms),
            "participants": len(participants),
            "identities": len(identities),
            "events": events,
        },
    )


def seed_emulator(emulator, room_ids: list[int] | None = None) -> int:
    """Put the portal's rooms (all, or those given), as synced, straight into the emulator's store;
    returns how many rooms it now holds.

    Rooms that ended are left out: ACS drops a room once it expires, so it would not hold them.
    The rows are the ones RoomsApi writes on create (ids, 100 ns ticks, the roster by raw id).
    """
    now = timezone.now()
    chosen = {} if room_ids is None else {"pk__in": room_ids}
    live = Room.objects.filter(
        valid_until__gt=now, acs_id__isnull=False, deleted_at__isnull=True, **chosen
    )
    created = to_ticks(now - timedelta(minutes=5))
    room_rows = [
        (acs_id, created, to_ticks(start), to_ticks(end), int(pstn))
        for acs_id, start, end, pstn in live.values_list(
            "acs_id", "valid_from", "valid_until", "pstn_dial_out_enabled"
        ).iterator(chunk_size=5000)
    ]
    # Plain joins and no ORDER BY: SQLite plans `room IN (subquery)` and the default ordering
    # (by room, then display name) a hundred times slower.
    people = (
        Participant.objects.filter(
            room__valid_until__gt=now,
            room__acs_id__isnull=False,
            room__deleted_at__isnull=True,
            **{f"room__{name}": value for name, value in chosen.items()},
            identity__raw_id__isnull=False,
            identity__deleted_at__isnull=True,
        )
        .order_by()
        .values_list("room__acs_id", "identity__raw_id", "role")
    )
    with emulator.store.write() as conn:
        conn.executemany(
            "INSERT INTO rooms (id, created, valid_from, valid_until, pstn) VALUES (?, ?, ?, ?, ?)",
            room_rows,
        )
        conn.executemany(
            "INSERT INTO participants (room_id, raw_id, role) VALUES (?, ?, ?)",
            people.iterator(chunk_size=5000),
        )
    return len(room_rows)


def synced_rooms(count: int, per_room: int, owner, *, first_index: int, title: str) -> list[Room]:
    """More live rooms, synced like the seeded ones, with people taken from the identities."""
    now = timezone.now().replace(microsecond=0)
    identities = list(Identity.objects.order_by("pk")[: max(per_room, count)])
    rooms, rosters = [], []
    for n in range(count):
        people = [(identities[(n + j) % len(identities)], _role(j)) for j in range(per_room)]
        roster = {identity.raw_id: role for identity, role in people}
        start = now - timedelta(minutes=10)
        rooms.append(
            _room(
                first_index + n,
                f"{title} {n + 1}",
                start,
                start + timedelta(hours=4),
                owner,
                roster,
                now,
            )
        )
        rosters.append(people)
    with transaction.atomic():
        rooms = Room.objects.bulk_create(rooms)
        _record_synced(rooms, now)
        Participant.objects.bulk_create(
            Participant(room=room, identity=identity, role=role)
            for room, people in zip(rooms, rosters, strict=True)
            for identity, role in people
        )
        # These rooms measure the pushes to ACS Rooms: their role changes e-mail nobody (a
        # room's invitations can be turned off, as here), so no send shares the worker or ACS.
        RoomCalendar.objects.bulk_create(
            RoomCalendar(room_id=room.pk, invitations_enabled=False) for room in rooms
        )
    return rooms


class _Rollback(Exception):
    pass


def services_baseline(seeded: Seeded, *, rooms: int = 20, events: int = 300) -> dict[str, float]:
    """Seconds per room (with its people) through room_create(), and per event through record().

    Run in a transaction that is rolled back, so the database is left as seeded.
    """
    from rooms.services import ParticipantEntry, room_create

    identities = list(Identity.objects.order_by("pk")[: Sizes().per_room])
    now = timezone.now()
    result: dict[str, float] = {}
    try:
        with transaction.atomic():
            started = time.perf_counter()
            for n in range(rooms):
                start = now + timedelta(days=1, hours=n)
                room = room_create(
                    # Its rooms have Presenters: only role admins give roles.
                    actor=seeded.role_admin,
                    title=f"Baseline {n}",
                    valid_from=start,
                    valid_until=start + timedelta(hours=1),
                    participants=[
                        ParticipantEntry(person=identity, role=_role(j))
                        for j, identity in enumerate(identities)
                    ],
                )
            result["room"] = (time.perf_counter() - started) / rooms
            started = time.perf_counter()
            for n in range(events):
                audit.record(
                    action="portal.room.updated",
                    actor=seeded.scheduler,
                    target=room,
                    changes={"notes": {"before": "", "after": f"Agenda v{n}"}},
                )
            result["event"] = (time.perf_counter() - started) / events
            raise _Rollback
    except _Rollback:
        pass
    return result
