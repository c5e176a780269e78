"""A Django e-mail backend that sends through ACS Email (acs_gateway.email.send_email)."""

from __future__ import annotations

import logging
import mimetypes
import uuid
from collections.abc import Sequence
from email.message import Message
from email.utils import getaddresses
from typing import Any, cast

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from acs_gateway.email import send_email
from acs_gateway.errors import AcsError

logger = logging.getLogger(__name__)

# A message carrying this header is sent with that ACS operation id, so a retry is one message.
OPERATION_ID_HEADER = "X-Operation-Id"
DEFAULT_SENDER = "DoNotReply@portal.acs-emulator.local"
DEFAULT_SENDER_NAME = "Rooms portal"


def _recipients(addresses: Sequence[str]) -> list[tuple[str, str]]:
    return [(address, name) for name, address in getaddresses(list(addresses)) if address]


def _attachment(item: object) -> tuple[str, str, bytes]:
    """(name, content type, bytes) of one EmailMessage attachment in any of its forms."""
    if isinstance(item, Message):
        payload = item.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        return item.get_filename() or "attachment", item.get_content_type(), data
    name, content, mimetype = cast(tuple[str | None, str | bytes, str | None], item)
    name = name or "attachment"
    mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return name, mimetype, data


def _html(message: EmailMessage) -> str | None:
    if message.content_subtype == "html":
        return str(message.body)
    if isinstance(message, EmailMultiAlternatives):
        for alternative in message.alternatives:
            content, mimetype = alternative[0], alternative[1]
            if mimetype == "text/html":
                return str(content)
    return None


class AcsEmailBackend(BaseEmailBackend):
    """Sends each EmailMessage through ACS with settings.ACS_EMAIL_SENDER as the sender.

    send_email() addresses To only: Cc recipients join To (they are visible either way) and each
    Bcc recipient gets a copy of their own, so none of them is shown to the others. A message
    counts as sent when every copy ended Succeeded."""

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        # Django 6.1 leaves fail_silently to the backends that support it.
        super().__init__(**kwargs)
        self.fail_silently = fail_silently

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            try:
                if self._send(message):
                    sent += 1
            except (AcsError, ValueError):
                if not self.fail_silently:
                    raise
                logger.exception("ACS e-mail to %s failed", message.to)
        return sent

    def _send(self, message: EmailMessage) -> bool:
        if not message.recipients():
            return False
        # Read, never sent (send_email sends no extra headers): it only names the ACS operation.
        operation_id = next(
            (
                str(value)
                for name, value in message.extra_headers.items()
                if name.lower() == OPERATION_ID_HEADER.lower()
            ),
            None,
        )
        copies = [(_recipients([*message.to, *message.cc]), operation_id)]
        for address in _recipients(message.bcc):
            # A stable id per Bcc copy, so a retried message still sends each copy once.
            copy_id = str(uuid.uuid5(uuid.UUID(operation_id), address[0])) if operation_id else None
            copies.append(([address], copy_id))
        common: dict[str, Any] = {
            "sender": getattr(settings, "ACS_EMAIL_SENDER", DEFAULT_SENDER),
            "sender_name": getattr(settings, "ACS_EMAIL_SENDER_NAME", DEFAULT_SENDER_NAME),
            "subject": str(message.subject),
            "text": "" if message.content_subtype == "html" else str(message.body),
            "html": _html(message),
            "attachments": [_attachment(item) for item in message.attachments],
            "reply_to": [address for _, address in getaddresses(list(message.reply_to))] or None,
        }
        succeeded = True
        for to, copy_id in copies:
            if not to:
                continue
            result = send_email(to=to, operation_id=copy_id, **common)
            if result.status != "Succeeded":
                logger.warning(
                    "ACS e-mail %s to %s ended %s: %s",
                    result.operation_id,
                    [address for address, _ in to],
                    result.status,
                    result.error,
                )
                succeeded = False
        return succeeded
