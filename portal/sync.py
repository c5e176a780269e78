"""Sync state shared by every model that mirrors an ACS object."""

from django.db import models


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
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        abstract = True
