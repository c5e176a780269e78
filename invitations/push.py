"""The outbox's pusher for kind "invitation": send one e-mail exactly once.

The operation id is generated once and recorded in the outbox row's book (and on the row)
before the first send, in the same transaction that freezes the row's content; every retry
sends the same message under the same id, so ACS Email sends it once even when an answer is
lost. Every outcome, and every failed try, is an audit event of the room.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.utils import timezone

import acs_gateway as acs
from invitations import delivery, messages
from invitations.models import Invitation, Kind, Status
from invitations.services import KIND
from joining import links
from outbox.engine import Lease
from outbox.registry import register
from portal import audit
from rooms.models import Participant

DONE = (Status.SENT, Status.FAILED, Status.WITHDRAWN)


def _frozen(invitation: Invitation, lease: Lease) -> str:
    """The operation id, recorded before the first send; the row is frozen from then on."""
    operation_id = lease.book.get("operation_id")
    if operation_id:
        return operation_id
    operation_id = str(uuid.uuid4())
    with lease.held():
        Invitation.objects.filter(pk=invitation.pk, status=Status.PENDING).update(
            status=Status.SENDING, operation_id=operation_id
        )
        lease.record(operation_id=operation_id)
    return operation_id


def join_url(invitation: Invitation) -> str:
    """The person's own join link (made now if they have none); "" once they left."""
    participant = Participant.objects.filter(
        room_id=invitation.room_id, identity_id=invitation.identity_id
    ).first()
    if participant is None:
        return ""
    try:
        return links.link_for(participant)
    except ValidationError:  # left the room, or the room was deleted, meanwhile
        return ""


def _outcome(result) -> dict:
    return {
        "operation": "send_email",
        "operation_id": result.operation_id,
        "status": result.status,
        "error": result.error or "",
        "message_id": result.message_id or "",
        "request_id": result.request_id or "",
        "http_status": result.http_status,
    }


def _event(action: str, invitation: Invitation, outcome: dict) -> None:
    audit.record(
        action=action,
        target=invitation,
        room_id=invitation.room_id,
        changes={
            "to": {"before": None, "after": invitation.to_address},
            "kind": {"before": None, "after": invitation.kind},
            "sequence": {"before": None, "after": invitation.sequence},
            # The e-mail's identity at ACS: the same on every try of one message.
            "operation_id": {"before": None, "after": outcome["operation_id"]},
        },
        acs_outcome=outcome,
    )


def push(invitation: Invitation, lease: Lease) -> str:
    if invitation.status in DONE:
        return "pushed"
    operation_id = _frozen(invitation, lease)
    invitation.refresh_from_db()
    if invitation.status in DONE:
        return "pushed"
    url = join_url(invitation) if invitation.kind == Kind.REQUEST else ""
    message = messages.compose(invitation, join_url=url)
    lease.renew()
    try:
        result = delivery.send(
            to=(invitation.to_address, invitation.to_name),
            subject=message.subject,
            text=message.text,
            html=message.html,
            attachment=message.attachment,
            operation_id=operation_id,
        )
    except acs.AcsError as exc:
        outcome = {
            "operation": "send_email",
            "operation_id": operation_id,
            "status": "Error",
            "error": str(exc)[:2000],
            "error_code": getattr(exc, "code", "") or "",
            "request_id": getattr(exc, "request_id", "") or "",
            "http_status": getattr(exc, "status", None),
        }
        with lease.held():
            if exc.transient:
                # Retried by the outbox under the same operation id.
                _event("acs.invitation.send_failed", invitation, outcome)
            else:
                _finish(invitation, status=Status.FAILED, outcome=outcome)
        if exc.transient:
            raise
        return "pushed"
    sent = result.status == delivery.SUCCEEDED
    with lease.held():
        _finish(invitation, status=Status.SENT if sent else Status.FAILED, outcome=_outcome(result))
    return "pushed"


def _finish(invitation: Invitation, *, status: str, outcome: dict) -> None:
    """Record the final answer: sent, or refused (a bad address), never retried."""
    Invitation.objects.filter(pk=invitation.pk).update(
        status=status,
        sent_at=timezone.now() if status == Status.SENT else None,
        acs_status=outcome["status"],
        acs_error=outcome["error"],
        acs_message_id=outcome.get("message_id") or "",
        acs_request_id=outcome["request_id"],
        acs_http_status=outcome["http_status"],
        updated_at=timezone.now(),
    )
    _event(
        "acs.invitation.sent" if status == Status.SENT else "acs.invitation.delivery_failed",
        invitation,
        outcome,
    )


PRIORITY = -10


def register_pusher() -> None:
    """Make invitations known to the outbox (InvitationsConfig.ready)."""
    # An e-mail's push waits for ACS Email to finish the send (its poller: about 2 s on the
    # emulator, seconds on ACS); below the default, so rooms' and identities' pushes never queue
    # behind a batch of invitations (docs/benchmarks.md, drain).
    register(KIND, model=Invitation, push=push, priority=PRIORITY)
