"""Sync state and push machinery shared by every model that mirrors an ACS object."""

import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone


class SyncState(models.TextChoices):
    PENDING = "pending", "Waiting to be pushed"
    SYNCED = "synced", "In sync with ACS"
    FAILED = "failed", "Push failed; will retry"
    STOPPED = "stopped", "Rejected by ACS; not retried"


class SyncedModel(models.Model):
    """Fields that record where an object stands with ACS; the sync task is their only writer."""

    sync_state = models.CharField(
        max_length=16, choices=SyncState, default=SyncState.PENDING, db_index=True
    )
    sync_error = models.TextField(blank=True)
    sync_attempts = models.PositiveIntegerField(default=0)
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # Set when the portal deleted the object: the row stays as a tombstone until ACS confirms.
    # Indexed by tombstone_index() only where set: a full index made the planner (SQLite without
    # statistics) pick it for `deleted_at IS NULL`, which matches nearly every row.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every change; a push that started on an older generation runs again.
    sync_generation = models.PositiveBigIntegerField(default=0)
    synced_generation = models.PositiveBigIntegerField(default=0)
    # A worker holds the object while pushing it; an expired lease (a killed worker) frees it.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


def tombstone_index(model_name: str) -> models.Index:
    """An index of the deleted rows only, for a synced model's Meta.indexes."""
    return models.Index(
        fields=["deleted_at"],
        condition=models.Q(deleted_at__isnull=False),
        name=f"{model_name}_tombstones",
    )


# --------------------------------------------------------------------------- the push machinery

LEASE = timedelta(seconds=60)
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0
# ACS replays a create sent with the same Repeatability-Request-ID for 5 minutes after its
# Repeatability-First-Sent; the portal counts on it for 4½, a margin for clocks and the request.
REPEATABILITY_WINDOW = timedelta(minutes=4, seconds=30)
_pending = threading.local()


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: ACS's Retry-After when given, else exponential with jitter.

    Full jitter spreads the retries of many rooms that failed together (an ACS outage), so they
    do not come back as one burst. Retry-After is a floor, because ACS asked for it, and rooms
    it throttled together are spread over the Retry-After that follows. Measured against the
    throttling emulator (docs/benchmarks.md): waiting exactly Retry-After reached the same rate
    with more 429s; the exponential floor used before waited 2 x Retry-After from the second try.
    """
    if retry_after is not None:
        wait = float(retry_after)
        return random.uniform(wait, 2 * wait)  # noqa: S311 - jitter, not security
    exponential = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return random.uniform(exponential / 2, exponential)  # noqa: S311


def enqueue_on_commit(kind: str, pk: int) -> None:
    """Enqueue one sync task per object when the transaction commits, however often it changed.

    Every change registers a callback, and the first to run enqueues everything pending; after a
    rollback the pk stays pending and is pushed with the next commit, which costs one no-op push.
    """
    pending = getattr(_pending, "items", None)
    if pending is None:
        pending = _pending.items = set()
    pending.add((kind, pk))
    transaction.on_commit(_flush_pending)


def _flush_pending() -> None:
    items = getattr(_pending, "items", set())
    _pending.items = set()
    for kind, pk in sorted(items):
        enqueue_now(kind, pk)


def enqueue_now(kind: str, pk: int, *, run_after: datetime | None = None) -> None:
    from identities.tasks import sync_identity
    from rooms.tasks import sync_room

    task = {"room": sync_room, "identity": sync_identity}[kind]
    if run_after is not None and task.get_backend().supports_defer:
        task = task.using(run_after=run_after)
    elif run_after is not None:
        # A backend that cannot defer (tests' immediate one) leaves the retry to the sweeper.
        return
    task.enqueue(pk)


def mark_dirty(model, pk: int, kind: str, *, reset_attempts: bool = False) -> None:
    """Record that the object changed and push it after commit (signals and services call this)."""
    changes = {
        "sync_generation": F("sync_generation") + 1,
        "sync_state": SyncState.PENDING,
        "next_sync_at": timezone.now(),
    }
    if reset_attempts:
        changes["sync_attempts"] = 0
    # update() fires no signal, so marking never loops back into the receivers.
    model.objects.filter(pk=pk).update(**changes)
    enqueue_on_commit(kind, pk)


def claim(model, pk: int, worker: str) -> bool:
    """Take the object for one push; False if another worker holds an unexpired lease."""
    now = timezone.now()
    return (
        model.objects.filter(pk=pk)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_by=worker, claimed_until=now + LEASE)
        == 1
    )


class LeaseLost(Exception):  # noqa: N818 - what happened, not an error kind
    """Another worker took the object (this one held it past its lease): stop, write nothing."""


@dataclass(frozen=True)
class Lease:
    """One worker's hold on one object for a push, renewed before each ACS call.

    A push can take several ACS calls of up to 40 s each (10 s to connect, 30 s to read), more
    than LEASE; renewing before every call keeps the hold for as long as the push works, and a
    worker that finds its lease taken stops before calling ACS or writing anything again.
    """

    model: type
    pk: int
    worker: str

    def renew(self) -> None:
        """Hold the object for another LEASE from now; LeaseLost if another worker has it."""
        # claimed_by, not claimed_until: a lease that ran out but that nobody took is still ours.
        held = self.model.objects.filter(pk=self.pk, claimed_by=self.worker).update(
            claimed_until=timezone.now() + LEASE
        )
        if held != 1:
            raise LeaseLost(f"{self.model.__name__} {self.pk} is no longer held by {self.worker}")

    def write(self, **fields) -> None:
        """Update the object's sync fields, only while this worker holds it (else LeaseLost)."""
        if self.model.objects.filter(pk=self.pk, claimed_by=self.worker).update(**fields) != 1:
            raise LeaseLost(f"{self.model.__name__} {self.pk} is no longer held by {self.worker}")

    def let_go(self) -> None:
        """Give the object up without recording an outcome."""
        self.model.objects.filter(pk=self.pk, claimed_by=self.worker).update(
            claimed_by="", claimed_until=None
        )

    def guard(self, gateway) -> "LeasedGateway":
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


def release(model, pk: int, worker: str, *, generation: int, **outcome) -> bool:
    """Finish a push: record the outcome, and report whether the object changed meanwhile.

    The generation check and the release are one UPDATE, so a change committed during the push
    is never lost: either this update sees it (and the caller pushes again) or the change's own
    task finds the lease free.
    """
    done = (
        model.objects.filter(pk=pk, claimed_by=worker, sync_generation=generation).update(
            claimed_by="", claimed_until=None, synced_generation=generation, **outcome
        )
        == 1
    )
    if not done:
        model.objects.filter(pk=pk, claimed_by=worker).update(claimed_by="", claimed_until=None)
    return done


def succeed(model, pk: int, worker: str, *, generation: int) -> bool:
    """Release after ACS accepted the push: synced, unless the object changed meanwhile."""
    return release(
        model,
        pk,
        worker,
        generation=generation,
        sync_state=SyncState.SYNCED,
        sync_error="",
        sync_attempts=0,
        next_sync_at=None,
        synced_at=timezone.now(),
    )


def fail(model, kind: str, obj, worker: str, exc, *, retry_by: datetime | None = None) -> str:
    """Release after a failed push: failed with its next try, or stopped when ACS refused it.

    `retry_by` caps the wait: a create whose answer was lost must be retried while ACS still
    replays it. Past that point the retry comes every few seconds, as long as there is time.
    """
    attempts = obj.sync_attempts + 1
    if exc.transient:
        now = timezone.now()
        delay = backoff_delay(attempts, getattr(exc, "retry_after", None))
        next_at = now + timedelta(seconds=delay)
        if retry_by is not None and next_at > retry_by:
            next_at = max(retry_by, now + LAST_CHANCE_RETRY)
        state = SyncState.FAILED
    else:
        next_at, state = None, SyncState.STOPPED
    model.objects.filter(pk=obj.pk, claimed_by=worker).update(
        sync_state=state,
        sync_error=str(exc)[:2000],
        sync_attempts=attempts,
        next_sync_at=next_at,
        claimed_by="",
        claimed_until=None,
    )
    if next_at is not None:
        enqueue_now(kind, obj.pk, run_after=next_at)
    return state


# The gap between the retries of a lost create once its deadline for a retry has passed.
LAST_CHANCE_RETRY = timedelta(seconds=5)


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


def new_worker_id() -> str:
    return uuid.uuid4().hex


def due(model):
    """Objects whose push is due and that nobody holds: what the sweeper re-enqueues."""
    now = timezone.now()
    return (
        model.objects.filter(sync_state__in=[SyncState.PENDING, SyncState.FAILED])
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )


# A due object untouched this long lost its task (a killed worker, a lost enqueue): re-enqueue it.
SWEEP_GRACE = timedelta(seconds=30)
# db_worker sweeps every 10 s; a margin over that for the retry to reach ACS.
SWEEP_MARGIN = timedelta(seconds=15)


def replay_retry_by(first_sent: datetime) -> datetime:
    """The latest time to schedule the retry of a create whose answer was lost.

    Early enough in ACS's replay window that, should the retry's task be lost, the sweeper still
    finds it (SWEEP_GRACE plus one sweep) and the replay reaches ACS inside the window.
    """
    return first_sent + REPEATABILITY_WINDOW - SWEEP_GRACE - SWEEP_MARGIN


def sweep() -> int:
    """Re-enqueue every object whose push is overdue; returns how many."""
    from identities.models import Identity
    from rooms.models import Room

    stale = timezone.now() - SWEEP_GRACE
    count = 0
    for model, kind in ((Identity, "identity"), (Room, "room")):
        # No next_sync_at: a row made without mark_dirty() (bulk_create), so never enqueued.
        overdue = Q(next_sync_at__lte=stale) | Q(next_sync_at__isnull=True)
        ids = list(due(model).filter(overdue).values_list("pk", flat=True)[:500])
        if ids:
            # Pushed back, so the next sweep leaves them to the tasks enqueued now.
            model.objects.filter(pk__in=ids).update(next_sync_at=timezone.now())
        for pk in ids:
            enqueue_now(kind, pk)
        count += len(ids)
    return count
