"""Make ACS hold the portal's identities: create the ACS user, delete it when the portal does."""

import contextlib
import logging

from django.db import transaction

from identities.models import Identity
from portal import acs, audit
from portal import sync as machinery
from portal.sync import SyncState

log = logging.getLogger(__name__)


def mark_identity_dirty(pk: int) -> None:
    machinery.mark_dirty(Identity, pk, "identity")


def push_identity(pk: int, *, worker: str | None = None) -> str:
    """Create or delete the identity's ACS user as the portal says; returns the sync state."""
    worker = worker or machinery.new_worker_id()
    if not machinery.claim(Identity, pk, worker):
        return "busy"
    identity = Identity.objects.filter(pk=pk).first()
    if identity is None:
        return "gone"
    generation = identity.sync_generation

    def record(attempt) -> None:
        ok = attempt.status is not None and attempt.status < 400
        verb = {"create_user": "created", "delete_user": "deleted"}.get(
            attempt.operation, attempt.operation.lower()
        )
        with transaction.atomic():
            audit.record(
                action=f"acs.identity.{verb}" + ("" if ok else "_failed"),
                target=identity,
                acs_outcome=machinery.outcome_of(attempt),
            )

    gateway = acs.get_gateway()
    try:
        if identity.deleted_at is not None:
            if identity.raw_id:
                with contextlib.suppress(acs.AcsNotFound):  # already gone
                    gateway.delete_user(identity.raw_id, on_attempt=record)
        elif not identity.raw_id:
            raw_id = gateway.create_user(on_attempt=record)
            Identity.objects.filter(pk=pk).update(raw_id=raw_id)
    except acs.AcsError as exc:
        return machinery.fail(Identity, "identity", identity, worker, exc)
    if machinery.succeed(Identity, pk, worker, generation=generation):
        return SyncState.SYNCED
    machinery.enqueue_now("identity", pk)
    return SyncState.PENDING
