"""One row per object mirrored in ACS: what the portal wants pushed and what ACS confirmed.

Only outbox.engine writes these rows (claim, renew, record, confirm, fail, mark_dirty); the
domain rows (rooms, identities) hold domain fields only.
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class SyncState(models.TextChoices):
    PENDING = "pending", "Waiting to be pushed"
    SYNCED = "synced", "In sync with ACS"
    FAILED = "failed", "Push failed; will retry"
    STOPPED = "stopped", "Rejected by ACS; not retried"


class Entry(models.Model):
    """Where one object (a kind and its id) stands with ACS."""

    # The pusher's name in the registry ("room", "identity") and the object's primary key.
    kind = models.CharField(max_length=32)
    object_id = models.PositiveBigIntegerField()
    state = models.CharField(max_length=16, choices=SyncState, default=SyncState.PENDING)
    # Bumped by every change; a push confirms the generation it read, so a change made during
    # the push leaves generation ahead of confirmed_generation and is pushed again.
    generation = models.PositiveBigIntegerField(default=0)
    confirmed_generation = models.PositiveBigIntegerField(default=0)
    # The worker pushing the object; an expired lease (a killed worker) frees it.
    holder = models.CharField(max_length=64, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)
    # The last change's mark: a pending push long after it is overdue (the dashboard says so).
    marked_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # When the sweep enqueues the object's push (a retry, or a push whose task was lost).
    next_try_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    confirmed_at = models.DateTimeField("last synced", null=True, blank=True)
    # What ACS last confirmed, and the kind's bookkeeping for creates whose answer may be lost
    # (a room: state, create_request_id, create_first_sent, create_payload; an identity:
    # create_request_id, create_first_sent, create_unanswered). Its shape is the pusher's.
    acs = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = "ACS sync entry"
        verbose_name_plural = "ACS sync entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="outbox_entry_once"),
        ]
        indexes = [
            # The sweep: unconfirmed rows by their next try.
            models.Index(
                fields=["next_try_at"],
                condition=models.Q(state__in=["pending", "failed"]),
                name="outbox_entry_due",
            ),
            models.Index(fields=["state"], name="outbox_entry_state"),
            # The health check's backlog age: the oldest unpushed change, first in this index.
            models.Index(
                fields=["marked_at"],
                condition=models.Q(state__in=["pending", "failed"]),
                name="outbox_entry_backlog",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.state}"

    @property
    def in_sync(self) -> bool:
        return self.state == SyncState.SYNCED


class WorkerHeartbeat(models.Model):
    """A task worker's sign of life: its housekeeping thread stamps `seen_at` every few seconds.

    The health check (config/health.py) reads the latest stamp: no worker seen for a minute
    means nothing is pushing changes to ACS. A worker that stops cleanly deletes its row.
    """

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.host}, pid {self.pid})"
