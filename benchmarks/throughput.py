"""Throughput under ACS throttling: role changes over many rooms, pushed by a real run_worker.

ACS (the emulator, in a state file shared with the worker subprocess) accepts N requests per
second and answers 429 with Retry-After beyond that. Changes arrive round-robin over the rooms,
paced at 1.5 N per second (or as fast as this process can make them), so pushes keep waiting:
the worker could keep ACS busy. The figure is the rate of accepted participant PATCHes while
changes arrive, against N. Once the worker has drained, every room's roster in ACS must equal
the portal's (no change lost).

Two more runs explain the figure: the same arrivals with no throttle first (what the worker
manages on this machine at all: the ceiling any N is measured against), and a run at a low
throttle (N=5) that the worker can outpace, where the throttle really is the limit.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

import acs_gateway as acs
from acs_emulator.timeutil import TICKS_PER_SECOND, parse_rfc3339, to_ticks
from benchmarks.seed import Seeded, seed_emulator, synced_rooms
from benchmarks.table import Report, Row, progress
from benchmarks.worker import ProcessWorker
from outbox import engine
from outbox.models import SyncState
from rooms import services
from rooms.models import Participant, Role, Room
from rooms.sync import desired_state

UPDATE = "Participants_Update"
TARGET = 0.8
PACE = 1.5
# The throttle of the explaining run: low enough for the worker to keep up on a small machine.
LOW = 5.0


def _now_ticks() -> int:
    return to_ticks(datetime.now(UTC))


def _from_ticks(ticks: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ticks // 10)


@dataclass
class Load:
    """The rooms under load and the roles the producer last gave their people."""

    rooms: list[Room]
    people: dict[int, list[Participant]]
    roles: dict[int, str]
    actor: object
    made: int = 0

    @property
    def ids(self) -> list[int]:
        return [room.pk for room in self.rooms]


@dataclass
class Outcome:
    throttle: float | None
    changes: int
    arrival_rate: float
    seconds: float
    accepted: int
    throttled: int
    tasks_per_second: float
    drain_tasks_per_second: float
    drain_seconds: float
    unsettled: int
    dirty: list[int] = field(default_factory=list)
    retry_gaps: list[float] = field(default_factory=list)
    # Other calls ACS accepted while changes arrived (they share the throttle's budget).
    others: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds


def _arrive(load: Load, count: int, rate: float) -> list[int]:
    """Make `count` role changes, one transaction each, paced at `rate` per second."""
    dirty: list[int] = []
    started = time.monotonic()
    for i in range(count):
        if (wait := started + i / rate - time.monotonic()) > 0:
            time.sleep(wait)
        n = load.made + i
        room = load.rooms[n % len(load.rooms)]
        participant = load.people[room.pk][(n // len(load.rooms)) % len(load.people[room.pk])]
        role = Role.ATTENDEE if load.roles[participant.pk] == Role.PRESENTER else Role.PRESENTER
        services.participant_role_change(actor=load.actor, participant=participant, role=role)
        load.roles[participant.pk] = role
        if i % 25 == 0 and time.monotonic() - started > 2:
            dirty.append(
                Room.objects.filter(pk__in=load.ids)
                .exclude(sync__generation=F("sync__confirmed_generation"))
                .count()
            )
    load.made += count
    return dirty


def _owed() -> int:
    """Pushes owed, and tasks queued: a queue of tasks whose push is done already (duplicates
    the sweep enqueued while the backlog waited) still takes the worker a moment each."""
    owed = engine.owed().count()
    return owed + DBTaskResult.objects.filter(status="READY").count()


def _drain_backlog(timeout: float = 300) -> tuple[int, float, int]:
    """Let the worker push what is owed already; (how many were, seconds, how many still are)."""
    started, backlog = time.monotonic(), _owed()
    if backlog:
        progress(f"throughput: draining {backlog:,} pushes and tasks earlier benchmarks left")
    left = backlog
    while left and time.monotonic() - started < timeout:
        time.sleep(0.5)
        left = _owed()
    return backlog, time.monotonic() - started, left


def _drain(load: Load, timeout: float = 180) -> int:
    """Wait until every room is synced with no change left; returns how many are not."""
    deadline = time.monotonic() + timeout
    while True:
        unsettled = (
            Room.objects.filter(pk__in=load.ids)
            .exclude(
                sync__state=SyncState.SYNCED,
                sync__generation=F("sync__confirmed_generation"),
            )
            .count()
        )
        if not unsettled or time.monotonic() > deadline:
            return unsettled
        time.sleep(0.25)


def _run(emulator, load: Load, *, throttle: float | None, count: int, rate: float) -> Outcome:
    if throttle:
        emulator.set_faults(throttle_rps=throttle)
    else:
        emulator.clear_faults()
    what = f"throttled at {throttle:.0f}/s" if throttle else "not throttled"
    progress(f"throughput: {count} role changes at {rate:.0f}/s, ACS {what}")
    since = timezone.now()
    t0, started = _now_ticks(), time.monotonic()
    dirty = _arrive(load, count, rate)
    t1, produced = _now_ticks(), time.monotonic() - started
    unsettled = _drain(load)
    drained = time.monotonic() - started - produced
    t2 = _now_ticks()
    emulator.clear_faults()
    every = [(parse_rfc3339(entry["time"]), entry) for entry in emulator.requests()["requests"]]
    calls = [(at, entry) for at, entry in every if entry["operation"] == UPDATE]
    window = [entry for at, entry in calls if t0 <= at <= t1]
    others = Counter(
        entry["operation"]
        for at, entry in every
        if t0 <= at <= t1 and entry["operation"] != UPDATE and entry["status"] < 300
    )
    seconds = (t1 - t0) / TICKS_PER_SECOND
    finished = DBTaskResult.objects.filter(enqueued_at__gte=since)
    tasks = finished.filter(finished_at__gte=_from_ticks(t0), finished_at__lt=_from_ticks(t1))
    tasks_after = finished.filter(finished_at__gte=_from_ticks(t1), finished_at__lt=_from_ticks(t2))
    return Outcome(
        throttle=throttle,
        changes=count,
        arrival_rate=count / produced,
        seconds=seconds,
        accepted=sum(1 for entry in window if entry["status"] == 200),
        throttled=sum(1 for entry in window if entry["status"] == 429),
        tasks_per_second=tasks.count() / seconds,
        drain_tasks_per_second=tasks_after.count() / max(drained, 1e-6),
        drain_seconds=drained,
        unsettled=unsettled,
        dirty=dirty,
        retry_gaps=_retry_gaps([(at, entry) for at, entry in calls if t0 <= at <= t2]),
        others=others,
    )


def _retry_gaps(calls: list[tuple[int, dict]]) -> list[float]:
    """Seconds from each 429 to the next call for the same room."""
    last_429: dict[str, int] = {}
    gaps = []
    for at, entry in sorted(calls, key=lambda call: call[0]):
        path = entry["path"]
        if path in last_429:
            gaps.append((at - last_429.pop(path)) / TICKS_PER_SECOND)
        if entry["status"] == 429:
            last_429[path] = at
    return gaps


def _lost(emulator, rooms: list[Room]) -> tuple[int, int]:
    """(rooms whose ACS roster differs from the portal's, participants that differ)."""
    held: dict[str, dict[str, str]] = {room.acs_id: {} for room in rooms}
    with emulator.store.read() as conn:
        for row in conn.execute("SELECT room_id, raw_id, role FROM participants"):
            if row["room_id"] in held:
                held[row["room_id"]][row["raw_id"]] = row["role"]
    rooms_off = people_off = 0
    for room in rooms:
        room.refresh_from_db()
        wanted, theirs = desired_state(room)["participants"], held[room.acs_id]
        differing = [r for r in wanted.keys() | theirs.keys() if wanted.get(r) != theirs.get(r)]
        rooms_off += bool(differing)
        people_off += len(differing)
    return rooms_off, people_off


def _describe(outcome: Outcome) -> str:
    what = f"throttled at {outcome.throttle:.0f}/s" if outcome.throttle else "no throttle"
    text = (
        f"{what}: {outcome.changes} changes arrived at {outcome.arrival_rate:.1f}/s for "
        f"{outcome.seconds:.1f} s; {outcome.accepted} PATCHes accepted ({outcome.rate:.1f}/s), "
        f"{outcome.throttled} answered 429; the worker finished {outcome.tasks_per_second:.1f} "
        f"tasks/s meanwhile, then {outcome.drain_tasks_per_second:.1f} tasks/s draining for "
        f"{outcome.drain_seconds:.1f} s after the last change"
    )
    if outcome.dirty:
        text += (
            f"; rooms waiting for a push: min {min(outcome.dirty)}, median "
            f"{statistics.median(outcome.dirty):.0f}"
        )
    if outcome.retry_gaps:
        text += (
            f"; a room's next call came {statistics.median(outcome.retry_gaps):.2f} s (median; "
            f"min {min(outcome.retry_gaps):.2f}, max {max(outcome.retry_gaps):.2f}) after its 429"
        )
    if outcome.others:
        text += "; other calls accepted meanwhile: " + ", ".join(
            f"{count} {operation}" for operation, count in outcome.others.most_common()
        )
    if outcome.unsettled:
        text += f"; {outcome.unsettled} rooms NOT settled after 180 s"
    return text


def _row(outcome: Outcome, rooms: int, label: str) -> Row:
    assert outcome.throttle
    return Row(
        f"ACS calls/s {label}, {outcome.changes:,} changes over {rooms} rooms, run_worker",
        f"{outcome.rate:.1f}/s",
        f"{outcome.throttle:.0f}/s (the throttle N)",
        outcome.rate / outcome.throttle,
        target=f">= {TARGET} N",
        met=outcome.rate >= TARGET * outcome.throttle,
    )


def run(report: Report, seeded: Seeded, *, changes: int, rooms: int, throttle: float) -> None:
    run_dir = settings.RUN_DIR
    state = run_dir / "acs-throughput.sqlite3"
    emulator = acs.embedded_emulator(state)
    emulator.reset()
    made = synced_rooms(rooms, 10, seeded.scheduler, first_index=2_000_000, title="Throughput")
    seed_emulator(emulator, [room.pk for room in made])
    people = {room.pk: list(Participant.objects.filter(room=room).order_by("pk")) for room in made}
    load = Load(
        rooms=made,
        people=people,
        roles={p.pk: p.role for plist in people.values() for p in plist},
        actor=seeded.role_admin,
    )
    rate = throttle * PACE
    with ProcessWorker(acs_state=state, log=run_dir / "run_worker.log"):
        # Earlier benchmarks leave pushes owed (the import's 1,000 new people, say): drained
        # first, or the run with no throttle measures that backlog instead of the changes.
        backlog, drained_in, left = _drain_backlog()
        if backlog:
            report.note(
                f"throughput: {backlog:,} pushes and queued tasks left by earlier benchmarks "
                f"were drained first ({drained_in:.1f} s{f'; {left} still owed' if left else ''})"
            )
        ceiling = _run(emulator, load, throttle=None, count=max(60, changes // 3), rate=rate)
        main = _run(emulator, load, throttle=throttle, count=changes, rate=rate)
        below = None
        # Always: there the worker outpaces the throttle, so what it reaches is what the
        # throttle handling itself costs.
        if throttle > LOW:
            below = _run(emulator, load, throttle=LOW, count=int(15 * LOW * PACE), rate=LOW * PACE)
    rooms_off, people_off = _lost(emulator, made)

    report.add(_row(main, rooms, f"under throttling at N={throttle:.0f}"))
    if below is not None:
        report.add(_row(below, rooms, f"at a low throttle, N={below.throttle:.0f}"))
    unsettled = main.unsettled + (below.unsettled if below else 0) + ceiling.unsettled
    report.add(
        Row(
            "changes lost under throttling (participants whose ACS role differs at the end)",
            str(people_off),
            f"{load.made:,} changes made",
            None,
            target="0",
            met=people_off == 0 and not unsettled,
            note=f"{rooms_off} rooms out of step" if rooms_off else "",
        )
    )
    report.note(
        f"throughput runs ({rooms} rooms): "
        + "; ".join(_describe(outcome) for outcome in (ceiling, main, below) if outcome is not None)
    )
    if ceiling.rate < TARGET * throttle:
        report.note(
            f"throughput at N={throttle:.0f} cannot be met on this machine whatever the throttle "
            f"handling: with no throttle at all the worker made only {ceiling.rate:.1f} accepted "
            f"PATCHes/s ({ceiling.tasks_per_second:.1f} tasks/s) while changes arrived at "
            f"{ceiling.arrival_rate:.1f}/s, then {ceiling.drain_tasks_per_second:.1f} tasks/s once "
            "they stopped; see docs/benchmarks.md"
        )
