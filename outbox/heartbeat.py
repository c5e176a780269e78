"""Task workers' signs of life (outbox.models.WorkerHeartbeat): written by each worker's
housekeeping thread, read by the health check."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.utils import timezone

from outbox.models import WorkerHeartbeat

# How often a worker stamps its row, and how long the health check waits for one before it
# calls the workers gone: six beats, so a slow round or two of housekeeping is not an outage.
BEAT_EVERY = 10.0
SILENT_AFTER = timedelta(seconds=60)
# Rows of workers killed without a goodbye (SIGKILL, a lost machine) go after a day.
FORGET_AFTER = timedelta(days=1)


def beat(worker_id: str) -> None:
    """Stamp this worker as alive now, and drop the rows of workers long gone."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"host": socket.gethostname()[:255], "pid": os.getpid(), "seen_at": now},
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()


def stopped(worker_id: str) -> None:
    """The worker stops cleanly: it no longer counts as alive."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def alive(*, now=None) -> list[WorkerHeartbeat]:
    """The workers seen within SILENT_AFTER, latest first."""
    now = now or timezone.now()
    return list(
        WorkerHeartbeat.objects.filter(seen_at__gte=now - SILENT_AFTER).order_by("-seen_at")
    )


def last_seen() -> WorkerHeartbeat | None:
    """The worker seen last, however long ago (None: no worker ever beat, or all stopped)."""
    return WorkerHeartbeat.objects.order_by("-seen_at").first()
