"""Make ACS hold the portal's identities: create the ACS user, delete it when the portal does.

A create whose answer was lost may have made the user. Every retry resends the first request's
Repeatability-Request-ID and -First-Sent, so ACS answers with that user, for 5 minutes; the
retries of such a create are kept inside that window. ACS's Identity API cannot list users, so
once the window has closed with the outcome unknown nothing is created blind: the identity
stops, and a person decides (identities.services.identity_retry_sync).
"""

import contextlib
import logging
import uuid

from django.db import transaction
from django.utils import timezone

import acs_gateway as acs
from identities.models import Identity
from portal import audit
from portal import sync as machinery
from portal.sync import SyncState

log = logging.getLogger(__name__)

REPEATABILITY_WINDOW = machinery.REPEATABILITY_WINDOW

MAY_EXIST = (
    "ACS may have made an ACS user for this identity: a create got no answer (request "
    "{request_id}, first sent {first_sent}), and ACS no longer replays it. ACS cannot list "
    "users, so the portal does not create another on its own. Retry now (Identities in the "
    "admin, action “Retry creating the ACS user”) to create a new ACS user; the one that may "
    "exist stays behind unused, and the history says so."
)


class CreateOutcomeUnknown(acs.AcsError):
    """The window to replay a create that got no answer has closed: a person must decide."""

    transient = False


# What each ACS operation did, as the history names it: acs.room.created, acs.identity.deleted.
# Here, the lowest sync module, so room and identity pushes share it (rooms may use identities).
ATTEMPT_VERBS = {
    "create_room": "created",
    "update_room": "updated",
    "delete_room": "deleted",
    "get_room": "read",
    "list_rooms": "listed",
    "update_participants": "participants_pushed",
    "list_participants": "participants_read",
    "create_user": "created",
    "delete_user": "deleted",
}


def attempt_action(kind: str, attempt: acs.Attempt) -> str:
    """The audit action of one ACS exchange: acs.<kind>.<verb>, suffixed _failed unless ok."""
    verb = ATTEMPT_VERBS.get(attempt.operation, attempt.operation)
    return f"acs.{kind}.{verb}" + ("" if attempt.ok else "_failed")


def mark_identity_dirty(pk: int, *, reset_attempts: bool = False) -> None:
    machinery.mark_dirty(Identity, pk, "identity", reset_attempts=reset_attempts)


def window_closed(identity: Identity) -> bool:
    """True when ACS no longer replays the identity's create request."""
    first_sent = identity.create_first_sent
    return first_sent is not None and timezone.now() - first_sent > REPEATABILITY_WINDOW


def may_exist_message(identity: Identity) -> str:
    first_sent = identity.create_first_sent
    return MAY_EXIST.format(
        request_id=identity.create_request_id,
        first_sent=first_sent.isoformat(timespec="seconds") if first_sent else "-",
    )


def push_identity(pk: int, *, worker: str | None = None) -> str:
    """Create or delete the identity's ACS user as the portal says; returns the sync state."""
    worker = worker or machinery.new_worker_id()
    if not machinery.claim(Identity, pk, worker):
        return "busy"
    identity = Identity.objects.filter(pk=pk).first()
    if identity is None:
        return "gone"
    generation = identity.sync_generation
    lease = machinery.Lease(Identity, pk, worker)

    def record(attempt) -> None:
        with transaction.atomic():
            audit.record(
                action=attempt_action("identity", attempt),
                target=identity,
                acs_outcome=machinery.outcome_of(attempt),
            )

    # Every ACS call renews the lease first.
    gateway = lease.guard(acs.get_gateway())
    try:
        if identity.deleted_at is not None:
            raw_id = identity.raw_id or _made_by_unanswered_create(identity, lease, gateway, record)
            if raw_id:
                with contextlib.suppress(acs.AcsNotFound):  # already gone
                    gateway.delete_user(raw_id, on_attempt=record)
        elif not identity.raw_id:
            _create_user(identity, lease, gateway, record)
    except machinery.LeaseLost:
        log.warning("Identity %s was taken by another worker during a push; this one stops.", pk)
        return "lost"
    except acs.AcsError as exc:
        retry_by = None
        if identity.create_unanswered and identity.create_first_sent is not None:
            # Retried while ACS still replays it, so the retry learns the user it made.
            retry_by = machinery.replay_retry_by(identity.create_first_sent)
        return machinery.fail(Identity, "identity", identity, worker, exc, retry_by=retry_by)
    if machinery.succeed(Identity, pk, worker, generation=generation):
        return SyncState.SYNCED
    machinery.enqueue_now("identity", pk)
    return SyncState.PENDING


def _create_user(identity: Identity, lease: machinery.Lease, gateway, record) -> None:
    """Create the identity's ACS user, replaying the first request until ACS has answered it."""
    if identity.create_request_id is None or window_closed(identity):
        if identity.create_unanswered:
            # Some try got no answer, none got a 2xx, and ACS no longer replays it: a user may
            # exist that nothing can find. Another create would be blind.
            raise CreateOutcomeUnknown(may_exist_message(identity), code="CreateOutcomeUnknown")
        # First try, or every earlier try was answered (a refusal, an error): nothing was made.
        identity.create_request_id = uuid.uuid4()
        identity.create_first_sent = timezone.now()
        lease.write(
            create_request_id=identity.create_request_id,
            create_first_sent=identity.create_first_sent,
            create_unanswered=False,
        )
    try:
        raw_id = gateway.create_user(
            repeatability_request_id=str(identity.create_request_id),
            repeatability_first_sent=identity.create_first_sent,
            on_attempt=record,
        )
    except acs.AcsError as exc:
        if exc.status is None and not identity.create_unanswered:
            # No answer (a timeout, a dropped connection): ACS may have made the user.
            identity.create_unanswered = True
            lease.write(create_unanswered=True)
        if exc.status == 412 and identity.create_unanswered:
            # ACS says the window has closed (its clock is ahead of ours).
            raise CreateOutcomeUnknown(
                may_exist_message(identity), code="CreateOutcomeUnknown"
            ) from exc
        raise
    identity.raw_id = raw_id
    lease.write(raw_id=raw_id)


def _made_by_unanswered_create(
    identity: Identity, lease: machinery.Lease, gateway, record
) -> str | None:
    """For a deleted identity: the ACS user a create that got no answer may have made.

    Within the replay window the replay names it, so it can be deleted; past it, the tombstone
    goes, and the history records that a user may be left in ACS.
    """
    if not identity.create_unanswered or identity.create_request_id is None:
        return None
    if window_closed(identity):
        with transaction.atomic():
            audit.record(
                action="acs.identity.orphan_suspected",
                target=identity,
                acs_outcome={"error": may_exist_message(identity)},
            )
        lease.write(create_unanswered=False)
        return None
    _create_user(identity, lease, gateway, record)
    return identity.raw_id
