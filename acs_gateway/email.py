"""E-mail through ACS Email: send_email(), on the configured resource or the embedded emulator."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from azure.communication.email import EmailClient
from azure.core.exceptions import AzureError, HttpResponseError

from acs_gateway.clients import configuration, embedded_emulator, make_client
from acs_gateway.errors import AcsUnavailable, _request_id, map_error

# A plain string, as for Rooms and Identity: the SDK's default is its ApiVersion enum.
EMAIL_API_VERSION = "2025-09-01"
# How long send_email waits for ACS to finish the operation before giving up (a transient error:
# resending with the same operation id answers the operation ACS already has).
POLL_TIMEOUT_S = 120.0
# Used only when ACS sends no Retry-After with a running operation (the SDK default is 30 s).
POLLING_INTERVAL_S = 2

OPERATION = "send_email"


@dataclass(frozen=True)
class EmailResult:
    """How a send ended: status Succeeded, or Failed/Canceled with `error` (not retryable).

    `message_id` is the id ACS reports for the operation (its delivery reports use it);
    `request_id` and `http_status` describe the last HTTP exchange."""

    operation_id: str
    status: str
    error: str | None
    message_id: str | None
    request_id: str | None
    http_status: int | None


def email_client(
    connection_string: str = "",
    *,
    ca_bundle: str = "",
    app: Callable | None = None,
    endpoint: str = "",
    **kwargs: Any,
) -> EmailClient:
    """An EmailClient; arguments as for acs_gateway.rooms_client() (`endpoint` alone: keyless)."""
    return make_client(
        EmailClient,
        EMAIL_API_VERSION,
        connection_string,
        ca_bundle=ca_bundle,
        app=app,
        endpoint=endpoint,
        **kwargs,
    )


_clients_lock = threading.Lock()
_clients: dict[tuple[str, str, str, str], EmailClient] = {}


def _client() -> EmailClient:
    """One client per configuration (ACS_CONNECTION_STRING or, keyless, ACS_ENDPOINT;
    ACS_CA_BUNDLE, ACS_EMULATOR_STATE), so override_settings in tests works, as get_gateway()."""
    key = configuration()
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            connection_string, endpoint, ca_bundle, state = key
            app = None if connection_string or endpoint else embedded_emulator(state or None)
            client = _clients[key] = email_client(
                connection_string,
                ca_bundle=ca_bundle,
                app=app,
                endpoint=endpoint,
                # The caller (the outbox) retries, with the same operation id.
                retry_total=0,
                connection_timeout=10,
                read_timeout=30,
                polling_interval=POLLING_INTERVAL_S,
            )
        return client


def _address(address: str, name: str | None) -> dict[str, str]:
    return {"address": address, "displayName": name} if name else {"address": address}


def _message(
    *,
    sender: str,
    to: Sequence[tuple[str, str]],
    subject: str,
    text: str,
    html: str | None,
    attachments: Sequence[tuple[str, str, bytes]],
    reply_to: Sequence[str] | None,
) -> dict[str, Any]:
    content = {"subject": subject, "plainText": text}
    if html:
        content["html"] = html
    message: dict[str, Any] = {
        "senderAddress": sender,
        "content": content,
        "recipients": {"to": [_address(address, name) for address, name in to]},
    }
    if attachments:
        message["attachments"] = [
            {
                "name": name,
                "contentType": content_type,
                "contentInBase64": base64.b64encode(data).decode("ascii"),
            }
            for name, content_type, data in attachments
        ]
    if reply_to:
        message["replyTo"] = [{"address": address} for address in reply_to]
    return message


class _LastResponse:
    """Remembers the status and headers of the latest HTTP answer (the send or a poll)."""

    status: int | None = None
    headers: Any = None

    def __call__(self, pipeline_response: Any) -> None:
        self.status = pipeline_response.http_response.status_code
        self.headers = pipeline_response.http_response.headers


def _final_failure(exc: HttpResponseError) -> dict | None:
    """The status body when the poller raised because the operation ended Failed or Canceled;
    None for any other error (an HTTP error of the send or of a poll)."""
    response: Any = exc.response
    if response is None or response.status_code != 200:
        return None
    try:
        body = response.json()
    except Exception:
        return None
    if isinstance(body, dict) and body.get("status") in ("Failed", "Canceled"):
        return body
    return None


def send_email(
    *,
    sender: str,
    sender_name: str | None = None,
    to: list[tuple[str, str]],
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    operation_id: str | None = None,
    reply_to: list[str] | None = None,
) -> EmailResult:
    """Send one e-mail through ACS and wait for the outcome.

    `to` holds (address, display name) pairs; `attachments` (name, content type, bytes).
    Pass the same `operation_id` (a UUID) when retrying: ACS answers the operation it already
    has, so a retry never sends a second message. Without one a fresh id is used (see the
    result). A Failed or Canceled outcome (say, an undeliverable address) is returned, not raised;
    HTTP errors, timeouts and lost connections raise the gateway's AcsError family, whose
    `transient` says whether a retry can help.

    `sender_name` is not sent: ACS Email shows the display name configured for the sender
    address in the resource, and its API has no field for another one."""
    del sender_name  # see the docstring; kept so callers state it where ACS will support it
    operation_id = operation_id or str(uuid.uuid4())
    message = _message(
        sender=sender,
        to=to,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        reply_to=reply_to,
    )
    last = _LastResponse()
    body: Any
    try:
        poller = _client().begin_send(message, operation_id=operation_id, raw_response_hook=last)
        body = poller.result(timeout=POLL_TIMEOUT_S)
    except HttpResponseError as exc:
        # The poller raises when the operation ends Failed or Canceled; that is an outcome.
        body = _final_failure(exc)
        if body is None:
            raise map_error(exc, OPERATION) from exc
    except AzureError as exc:
        raise map_error(exc, OPERATION) from exc
    else:
        if not poller.done():
            raise AcsUnavailable(
                f"ACS had not finished sending after {POLL_TIMEOUT_S:g} s; "
                "resend with the same operation id to learn the outcome.",
                code="Timeout",
                request_id=_request_id(last.headers),
                operation=OPERATION,
            )
    # A resend of an operation that already ended answers its final status at once, and the
    # poller returns even a Failed one as the result.
    body = body if isinstance(body, dict) else {}
    status = str(body.get("status") or "Succeeded")
    error = None
    if status != "Succeeded":
        detail = body.get("error") or {}
        error = f"{detail.get('code', 'Unknown')}: {detail.get('message', '')}".strip()
    return EmailResult(
        operation_id=operation_id,
        status=status,
        error=error,
        message_id=body.get("id") or operation_id,
        request_id=_request_id(last.headers),
        http_status=last.status,
    )
