"""The sync engine: mark an object dirty, claim it, push it through its kind's pusher, record
the outcome; and the one scheduler, the sweep, which enqueues every push that is due.

The outbox rows (outbox.models.Entry) are written here only. A change marks its object's row
(a new generation, pending) and enqueues one push task when the transaction commits; a
duplicate task costs nothing, because the task claims the row first and finds it held or
confirmed. A failed push records its next try, and a push whose worker died leaves a lease
that runs out: the sweep (run_worker calls it when the next try comes, and every few seconds)
enqueues both.
"""

from __future__ import annotations

import logging
import random
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.tasks import task
from django.utils import timezone

import acs_gateway as acs
from outbox.models import Entry, SyncState
from outbox.registry import pusher
from portal.logging import current_request_id, new_request_id, request_context

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0
# ACS replays a create sent with the same Repeatability-Request-ID for 5 minutes after its
# Repeatability-First-Sent; the portal counts on it for 4½, a margin for clocks and the request.
REPEATABILITY_WINDOW = timedelta(minutes=4, seconds=30)
# A push still changing after this many rounds lets go and goes to the back of the queue.
MAX_ROUNDS = 5
# A due row is enqueued again if its task has not taken it this long after it was enqueued
# (a lost enqueue, a killed worker): the on-commit task, or the sweep's, should have by then.
SWEEP_GRACE = timedelta(seconds=30)
# run_worker sweeps every few seconds; a margin over that for a retry to reach ACS.
SWEEP_MARGIN = timedelta(seconds=15)
# The gap between the retries of a lost create once its deadline for a retry has passed.
LAST_CHANCE_RETRY = timedelta(seconds=5)


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: ACS's Retry-After when given, else exponential with jitter.

    Full jitter spreads the retries of many objects that failed together (an ACS outage), so
    they do not come back as one burst. Retry-After is a floor, because ACS asked for it, and
    objects it throttled together are spread over the Retry-After that follows. Measured
    against the throttling emulator (docs/benchmarks.md): waiting exactly Retry-After reached
    the same rate with more 429s; the exponential floor used before waited 2 x Retry-After.
    """
    if retry_after is not None:
        wait = float(retry_after)
        return random.uniform(wait, 2 * wait)  # noqa: S311 - jitter, not security
    exponential = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return random.uniform(exponential / 2, exponential)  # noqa: S311


def replay_retry_by(first_sent: datetime) -> datetime:
    """The latest time to schedule the retry of a create whose answer was lost.

    Early enough in ACS's replay window that, should the retry's task be lost, the sweep still
    enqueues it again (SWEEP_GRACE plus a margin) and the replay reaches ACS inside the window.
    """
    return first_sent + REPEATABILITY_WINDOW - SWEEP_GRACE - SWEEP_MARGIN


def new_worker_id() -> str:
    return uuid.uuid4().hex


def outcome_of(attempt) -> dict:
    """The part of a gateway Attempt that goes into the audit trail."""
    return {
        "operation": attempt.operation,
        "status": attempt.status,
        "duration_ms": round(attempt.duration_ms),
        "error_code": attempt.error_code or "",
        "error": attempt.error_message or "",
        "request_id": attempt.request_id or "",
    }


def _rows(kind: str, pk: int):
    return Entry.objects.filter(kind=kind, object_id=pk)


def entry(kind: str, pk: int) -> Entry | None:
    """The object's outbox row, read fresh (None for an object never marked)."""
    return _rows(kind, pk).first()


# --------------------------------------------------------------------------- marking and enqueueing


def mark_dirty(kind: str, pk: int, *, reset_attempts: bool = False, book: dict | None = None):
    """Record that the object changed, and push it when the transaction commits.

    Signals and services call this inside the change's transaction, so the mark commits (or
    rolls back) with the change. `book` replaces the kind's bookkeeping (what ACS holds, the
    create's request id), for services that learned it otherwise (a room adopted or imported,
    a create retried by a person).
    """
    now = timezone.now()
    changes = {
        "generation": F("generation") + 1,
        "state": SyncState.PENDING,
        "marked_at": now,
        # The on-commit task should have it long before; if it is lost, the sweep finds it.
        "next_try_at": now + SWEEP_GRACE,
    }
    if reset_attempts:
        changes["attempts"] = 0
    if book is not None:
        changes["acs"] = book
    if not _rows(kind, pk).update(**changes):
        _first_row(kind, pk, changes, book=book or {}, at=now)
    _enqueue_on_commit(kind, pk)


def _first_row(kind: str, pk: int, changes: dict, *, book: dict, at: datetime) -> None:
    """The object's row, made on its first mark (or its marks' `changes` if a race made it)."""
    try:
        with transaction.atomic():  # a savepoint: losing a race keeps the caller's going
            Entry.objects.create(
                kind=kind,
                object_id=pk,
                generation=1,
                marked_at=at,
                next_try_at=at + SWEEP_GRACE,
                acs=book,
            )
    except IntegrityError:  # made by another transaction meanwhile
        _rows(kind, pk).update(**changes)


class _Enqueue:
    """The on-commit callback that enqueues one object's push; equal for the same object."""

    def __init__(self, kind: str, pk: int):
        self.key = (kind, pk)
        self.ran = False
        # Taken now: the commit may come after the request's context is gone.
        self.request_id = current_request_id()

    def __eq__(self, other) -> bool:
        return isinstance(other, _Enqueue) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __call__(self) -> None:
        self.ran = True
        enqueue(*self.key, request_id=self.request_id)


def _enqueue_on_commit(kind: str, pk: int) -> None:
    """One task per changed object when the transaction commits, however often it changed.

    The transaction's own callbacks are the record: one registered for the object in the same
    atomic block enqueues it already, and Django drops those of a savepoint rolled back, so
    nothing outlives a rollback. A task enqueued twice anyway (marks in different savepoints,
    two transactions, the sweep) costs nothing: the second finds the object held or confirmed.
    """
    callback = _Enqueue(kind, pk)
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        block = set(connection.savepoint_ids)
        # `ran`: a test's captureOnCommitCallbacks(execute=True) runs callbacks, leaves them.
        for sids, registered, _ in connection.run_on_commit:
            if registered == callback and not registered.ran and sids == block:
                return
    transaction.on_commit(callback)


def mark_dirty_many(kind: str, pks: list[int]) -> None:
    """Outbox rows for objects made in bulk (bulk_create fires no signal), pending, unqueued.

    Their push comes from whatever uses them (a room's push creates its people's ACS users
    first) or from the next sweep.
    """
    now = timezone.now()
    Entry.objects.bulk_create(
        [Entry(kind=kind, object_id=pk, generation=1, marked_at=now, next_try_at=now) for pk in pks]
    )


def record_synced_many(kind: str, books: dict[int, dict], *, at: datetime) -> None:
    """Outbox rows for objects made in bulk that ACS holds already (seeding, bulk loads):
    synced, with each one's bookkeeping (what ACS holds), so a push of any sends nothing."""
    Entry.objects.bulk_create(
        [
            Entry(
                kind=kind,
                object_id=pk,
                state=SyncState.SYNCED,
                generation=1,
                confirmed_generation=1,
                confirmed_at=at,
                acs=book,
            )
            for pk, book in books.items()
        ],
        batch_size=2000,
    )


def enqueue(kind: str, pk: int, *, request_id: str | None = None) -> None:
    """Enqueue the object's push task now (a duplicate finds the row held or confirmed).

    The task takes the id of the request that caused it along (a kwarg: task arguments are
    JSON), so its log lines, audit events and ACS calls name that request. By default the
    current one's.
    """
    if request_id is None:
        request_id = current_request_id()
    task = push_task.using(priority=pusher(kind).priority)
    if request_id:
        task.enqueue(kind, pk, request_id=request_id)
    else:
        task.enqueue(kind, pk)


def sweep(*, limit: int = 500, queue_behind: bool = False) -> int:
    """Enqueue every push that is due: its next try reached, or its worker's lease run out.

    The one scheduler of retries, of pushes whose task was lost and of pushes a killed worker
    left; returns how many it enqueued. Each one's next try moves SWEEP_GRACE on, so the next
    sweep leaves it to the task enqueued now.

    `queue_behind`: a task has waited in the queue longer than SWEEP_GRACE, so the workers are
    behind and a pending push's task is most likely waiting there, not lost. Such pushes are
    left for later: enqueued again, each would add a task that finds nothing to do ahead of
    every newer change, once per SWEEP_GRACE for as long as the backlog lasts. Retries (failed)
    and pushes a killed worker left still have no task, and are enqueued whatever the queue.
    """
    now = timezone.now()
    due = (
        owed()
        .filter(Q(next_try_at__lte=now) | Q(next_try_at__isnull=True))
        .filter(Q(held_until__isnull=True) | Q(held_until__lt=now))
    )
    if queue_behind:
        due = due.exclude(state=SyncState.PENDING, held_until__isnull=True)
    found = list(due.order_by("next_try_at", "pk").values_list("pk", "kind", "object_id")[:limit])
    if found:
        Entry.objects.filter(pk__in=[pk for pk, _, _ in found]).update(
            next_try_at=now + SWEEP_GRACE
        )
    for _, kind, pk in found:
        enqueue(kind, pk)
    return len(found)


def owed() -> QuerySet[Entry]:
    """The rows whose push is still owed: pending, or failed and waiting for a retry."""
    return Entry.objects.filter(state__in=[SyncState.PENDING, SyncState.FAILED])


def oldest_unpushed_change() -> datetime | None:
    """When the oldest change still waiting to reach ACS was made (None: nothing waits).

    Served by the partial index outbox_entry_backlog: its first row is the answer.
    """
    return (
        owed()
        .filter(marked_at__isnull=False)
        .order_by("marked_at")
        .values_list("marked_at", flat=True)
        .first()
    )


def next_try_after(moment: datetime) -> datetime | None:
    """The earliest next try after `moment` (when the sweep next has a retry to enqueue)."""
    return (
        owed()
        .filter(next_try_at__gt=moment)
        .order_by("next_try_at")
        .values_list("next_try_at", flat=True)
        .first()
    )


# --------------------------------------------------------------------------- the lease


class LeaseLost(Exception):  # noqa: N818 - what happened, not an error kind
    """Another worker took the object (this one held it past its lease): stop, write nothing."""


def claim(kind: str, pk: int, worker: str) -> Lease | None:
    """Take the object for one push; None if another worker holds an unexpired lease."""
    now = timezone.now()
    taken = (
        _rows(kind, pk)
        .filter(Q(held_until__isnull=True) | Q(held_until__lt=now))
        .update(holder=worker, held_until=now + LEASE)
    )
    if not taken:
        return None
    lease = Lease(kind, pk, worker)
    lease.refresh()
    return lease


class Lease:
    """One worker's hold on one object's outbox row for a push, renewed before each ACS call.

    A push can take several ACS calls of up to 40 s each (10 s to connect, 30 s to read), more
    than LEASE; renewing before every call keeps the hold for as long as the push works, and a
    worker that finds its lease taken stops before calling ACS or writing anything again.
    `generation`, `attempts` and `book` (the kind's bookkeeping) are the row's as last read.
    """

    def __init__(self, kind: str, pk: int, worker: str):
        self.kind, self.pk, self.worker = kind, pk, worker
        self.generation = 0
        self.attempts = 0
        self.book: dict = {}

    def _mine(self):
        return _rows(self.kind, self.pk).filter(holder=self.worker)

    def _lost(self) -> LeaseLost:
        return LeaseLost(f"{self.kind} {self.pk} is no longer held by {self.worker}")

    def refresh(self) -> None:
        """Read the row's generation and bookkeeping again (LeaseLost if no longer held)."""
        row = self._mine().values("generation", "attempts", "acs").first()
        if row is None:
            raise self._lost()
        self.generation, self.attempts, self.book = row["generation"], row["attempts"], row["acs"]

    def renew(self) -> None:
        """Hold the object for another LEASE from now; LeaseLost if another worker has it."""
        self._extend()

    def _extend(self) -> None:
        # By holder, not held_until: a lease that ran out but that nobody took is still ours.
        if self._mine().update(held_until=timezone.now() + LEASE) != 1:
            raise self._lost()

    def record(self, **changes) -> None:
        """Write the kind's bookkeeping (merged into `book`), only while this worker holds it."""
        book = {**self.book, **changes}
        if self._mine().update(acs=book, held_until=timezone.now() + LEASE) != 1:
            raise self._lost()
        self.book = book

    @contextmanager
    def held(self):
        """A transaction in which the lease is ours: for writes to the object along with it.

        Renewing locks the row until the commit, so no other worker takes it in between.
        """
        with transaction.atomic():
            self._extend()
            yield

    def drop(self) -> None:
        """Delete the row: the object is gone from ACS and from the portal (inside held())."""
        if not self._mine().delete()[0]:
            raise self._lost()

    def let_go(self) -> None:
        """Give the object up without recording an outcome."""
        self._mine().update(holder="", held_until=None)

    def confirm(self, generation: int) -> bool:
        """ACS accepted the push of `generation`: synced and released, unless it changed since.

        The generation check and the release are one UPDATE, so a change committed during the
        push is never lost: either this update sees it (False: the caller pushes again, still
        holding the lease) or the change's own task finds the lease free.
        """
        return (
            self._mine()
            .filter(generation=generation)
            .update(
                state=SyncState.SYNCED,
                confirmed_generation=generation,
                last_error="",
                attempts=0,
                next_try_at=None,
                confirmed_at=timezone.now(),
                holder="",
                held_until=None,
            )
            == 1
        )

    def fail(self, exc, *, retry_by: datetime | None = None) -> str:
        """Release after a failed push: failed with its next try, or stopped when ACS refused.

        `retry_by` caps the wait: a create whose answer was lost must be retried while ACS still
        replays it. Past that point the retry comes every few seconds, as long as there is time.
        """
        attempts = self.attempts + 1
        if exc.transient:
            now = timezone.now()
            delay = backoff_delay(attempts, getattr(exc, "retry_after", None))
            next_at = now + timedelta(seconds=delay)
            if retry_by is not None and next_at > retry_by:
                next_at = max(retry_by, now + LAST_CHANCE_RETRY)
            state = SyncState.FAILED
        else:
            next_at, state = None, SyncState.STOPPED
        self._mine().update(
            state=state,
            last_error=str(exc)[:2000],
            attempts=attempts,
            next_try_at=next_at,
            holder="",
            held_until=None,
        )
        return state

    def guard(self, gateway) -> LeasedGateway:
        return LeasedGateway(gateway, self)


# Gateway methods that read page after page: the lease is renewed after each page too.
_PAGED = frozenset({"list_rooms", "list_participants"})


class LeasedGateway:
    """The ACS gateway, renewing a lease before every call (and between the pages of a list)."""

    def __init__(self, gateway, lease: Lease):
        self._gateway = gateway
        self._lease = lease

    def __getattr__(self, name: str):
        method = getattr(self._gateway, name)
        if name.startswith("_") or not callable(method):
            return method
        lease = self._lease

        def call(*args, **kwargs):
            lease.renew()
            if name in _PAGED:
                inner = kwargs.get("on_attempt")

                def renewing(attempt) -> None:
                    if inner is not None:
                        inner(attempt)
                    lease.renew()  # before the next page is asked for

                kwargs["on_attempt"] = renewing
            return method(*args, **kwargs)

        return call


# --------------------------------------------------------------------------- the push


def push(kind: str, pk: int, *, worker: str | None = None) -> str:
    """Push one object until ACS matches it; returns the resulting state (or busy/gone/lost)."""
    handler = pusher(kind)
    worker = worker or new_worker_id()
    lease = claim(kind, pk, worker)
    if lease is None:
        if entry(kind, pk) is not None:
            return "busy"
        if not handler.model._default_manager.filter(pk=pk).exists():
            return "gone"  # a task for an object pushed and deleted since
        # Made without a mark (bulk_create without mark_dirty_many): give it its row now.
        now = timezone.now()
        _first_row(kind, pk, {"marked_at": now}, book={}, at=now)
        lease = claim(kind, pk, worker)
        if lease is None:
            return "busy"
    for _ in range(MAX_ROUNDS):
        try:
            # The generation before the object: a change committed after this read is pushed
            # again, whether or not this round's read of the object saw it.
            lease.refresh()
            obj = handler.model._default_manager.filter(pk=pk).first()
            if obj is None:
                with lease.held():
                    lease.drop()
                return "gone"
            generation = lease.generation
            if handler.push(obj, lease) == "deleted":
                return "deleted"
            if lease.confirm(generation):
                return SyncState.SYNCED
            # Changed during the push: go round again while we still hold it.
            lease.renew()
        except LeaseLost:
            # Held past the lease and taken by another worker: that one pushes it now.
            log.warning(
                "%s %s was taken by another worker during a push; this one stops.", kind, pk
            )
            return "lost"
        except acs.AcsError as exc:
            return lease.fail(
                exc, retry_by=handler.retry_by(lease.book) if handler.retry_by else None
            )
        except Exception as exc:  # a bug must not leave the object claimed until the lease ends
            log.exception("Pushing %s %s failed", kind, pk)
            return lease.fail(acs.AcsUnavailable(str(exc)))
    # Still changing after every round: let go, so the queued task can take it now instead of
    # finding it held until the lease runs out.
    lease.let_go()
    enqueue(kind, pk)
    return SyncState.PENDING


def run(kind: str, pk: int) -> str:
    """The push task's body: push the object unless it is confirmed or stopped already."""
    row = _rows(kind, pk).values("state", "generation", "confirmed_generation").first()
    if row is not None:
        if row["state"] == SyncState.SYNCED and row["generation"] == row["confirmed_generation"]:
            return "confirmed"
        if row["state"] == SyncState.STOPPED:
            return SyncState.STOPPED
    return push(kind, pk)


@task
def push_task(kind: str, object_id: int, request_id: str = "") -> str:
    """The one push task, for every kind: the registry knows the kind's model and pusher.

    `request_id`: the request that enqueued it; a push the sweep enqueued gets an id of its own.
    """
    with request_context(request_id or new_request_id()):
        return run(kind, object_id)
