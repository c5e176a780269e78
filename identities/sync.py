"""Make ACS hold the portal's identities: create the ACS user, delete it when the portal does.

A create whose answer was lost may have made the user. Every retry resends the first request's
Repeatability-Request-ID and -First-Sent, so ACS answers with that user, for 5 minutes; the
retries of such a create are kept inside that window. ACS's Identity API cannot list users, so
once the window has closed with the outcome unknown nothing is created blind: the identity
stops, and a person decides (identities.services.identity_retry_sync).
"""

import contextlib
import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

import acs_gateway as acs
from identities.models import Identity
from outbox import engine
from outbox.engine import Lease
from outbox.models import Entry
from portal import audit

KIND = "identity"
REPEATABILITY_WINDOW = engine.REPEATABILITY_WINDOW

# An identity's bookkeeping in its outbox row (Entry.acs):
#   create_request_id  sent as Repeatability-Request-ID on create_user, the same on every retry
#   create_first_sent  when it was first sent (ISO), sent as Repeatability-First-Sent
#   create_unanswered  a create sent with this request id got no answer: ACS may have made it

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


def mark_identity_dirty(pk: int, *, reset_attempts: bool = False, book: dict | None = None):
    engine.mark_dirty(KIND, pk, reset_attempts=reset_attempts, book=book)


def mark_identities_made(pks: list[int]) -> None:
    """Outbox rows for identities made in bulk (no signal fires for them)."""
    engine.mark_dirty_many(KIND, pks)


def book_of(identity: Identity) -> dict:
    """The identity's bookkeeping, from its outbox row."""
    try:
        entry = identity.sync
    except Entry.DoesNotExist:
        return {}
    return entry.acs if entry is not None else {}


def first_sent(book: dict) -> datetime | None:
    value = book.get("create_first_sent")
    return datetime.fromisoformat(value) if value else None


def window_closed(book: dict) -> bool:
    """True when ACS no longer replays the identity's create request."""
    sent_at = first_sent(book)
    return sent_at is not None and timezone.now() - sent_at > REPEATABILITY_WINDOW


def may_exist_message(book: dict) -> str:
    sent_at = first_sent(book)
    return MAY_EXIST.format(
        request_id=book.get("create_request_id"),
        first_sent=sent_at.isoformat(timespec="seconds") if sent_at else "-",
    )


def retry_by(book: dict) -> datetime | None:
    """A create that got no answer is retried while ACS still replays it, so the retry learns
    the user it made."""
    sent_at = first_sent(book)
    if book.get("create_unanswered") and sent_at is not None:
        return engine.replay_retry_by(sent_at)
    return None


def push_identity(pk: int, *, worker: str | None = None) -> str:
    """Create or delete the identity's ACS user as the portal says; returns the sync state."""
    return engine.push(KIND, pk, worker=worker)


def _push_once(identity: Identity, lease: Lease) -> str:
    """One push of an identity (the outbox calls it, holding the identity's lease)."""

    def record(attempt) -> None:
        with transaction.atomic():
            audit.record(
                action=attempt.audit_action("identity"),
                target=identity,
                acs_outcome=engine.outcome_of(attempt),
            )

    # Every ACS call renews the lease first.
    gateway = lease.guard(acs.get_gateway())
    if identity.deleted_at is not None:
        raw_id = identity.raw_id or _made_by_unanswered_create(identity, lease, gateway, record)
        if raw_id:
            with contextlib.suppress(acs.AcsNotFound):  # already gone
                gateway.delete_user(raw_id, on_attempt=record)
    elif not identity.raw_id:
        _create_user(identity, lease, gateway, record)
    return "pushed"


def _create_user(identity: Identity, lease: Lease, gateway, record) -> None:
    """Create the identity's ACS user, replaying the first request until ACS has answered it."""
    book = lease.book
    if book.get("create_request_id") is None or window_closed(book):
        if book.get("create_unanswered"):
            # Some try got no answer, none got a 2xx, and ACS no longer replays it: a user may
            # exist that nothing can find. Another create would be blind.
            raise CreateOutcomeUnknown(may_exist_message(book), code="CreateOutcomeUnknown")
        # First try, or every earlier try was answered (a refusal, an error): nothing was made.
        lease.record(
            create_request_id=str(uuid.uuid4()),
            create_first_sent=timezone.now().isoformat(),
            create_unanswered=False,
        )
    try:
        raw_id = gateway.create_user(
            repeatability_request_id=lease.book["create_request_id"],
            repeatability_first_sent=first_sent(lease.book),
            on_attempt=record,
        )
    except acs.AcsError as exc:
        if exc.status is None and not lease.book.get("create_unanswered"):
            # No answer (a timeout, a dropped connection): ACS may have made the user.
            lease.record(create_unanswered=True)
        if exc.status == 412 and lease.book.get("create_unanswered"):
            # ACS says the window has closed (its clock is ahead of ours).
            raise CreateOutcomeUnknown(
                may_exist_message(lease.book), code="CreateOutcomeUnknown"
            ) from exc
        raise
    with lease.held():
        Identity.objects.filter(pk=identity.pk).update(raw_id=raw_id)
    identity.raw_id = raw_id


def _made_by_unanswered_create(identity: Identity, lease: Lease, gateway, record) -> str | None:
    """For a deleted identity: the ACS user a create that got no answer may have made.

    Within the replay window the replay names it, so it can be deleted; past it, the tombstone
    goes, and the history records that a user may be left in ACS.
    """
    book = lease.book
    if not book.get("create_unanswered") or book.get("create_request_id") is None:
        return None
    if window_closed(book):
        with transaction.atomic():
            audit.record(
                action="acs.identity.orphan_suspected",
                target=identity,
                acs_outcome={"error": may_exist_message(book)},
            )
        lease.record(create_unanswered=False)
        return None
    _create_user(identity, lease, gateway, record)
    return identity.raw_id


def register() -> None:
    """Make identities known to the outbox (IdentitiesConfig.ready)."""
    from outbox.registry import register as register_pusher

    register_pusher(KIND, model=Identity, push=_push_once, retry_by=retry_by)
