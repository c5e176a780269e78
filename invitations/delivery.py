"""The one place the invitations app reaches ACS Email (acs_gateway.email.send_email)."""

from __future__ import annotations

from acs_gateway.email import EmailResult, send_email
from invitations.calendar import organizer

# ACS's final status of a sent message; anything else (Failed, Canceled) will not change.
SUCCEEDED = "Succeeded"


def send(
    *,
    to: tuple[str, str],
    subject: str,
    text: str,
    html: str,
    attachment: tuple[str, str, bytes],
    operation_id: str,
) -> EmailResult:
    """Send one message; the same operation id on every retry makes ACS send it once.

    Raises acs_gateway's AcsError family (transient ones for 5xx, 429, timeouts, lost
    connections); an address ACS refuses comes back as a Failed result.
    """
    sender, sender_name = organizer()
    return send_email(
        sender=sender,
        sender_name=sender_name,
        to=[to],
        subject=subject,
        text=text,
        html=html,
        attachments=[attachment],
        operation_id=operation_id,
    )
