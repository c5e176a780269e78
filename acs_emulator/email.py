"""Email API handlers: send (a long-running operation, repeatable by Operation-Id), its status,
and the kept messages the inbox and the control API read."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import errors
from .messages import Request, Response
from .store import Store
from .timeutil import TICKS_PER_SECOND, format_ticks, to_ticks

# 2025-09-01 is what azure-communication-email 1.1.0 sends; the older ones cost nothing to accept.
API_VERSIONS = ("2023-03-31", "2024-07-01-preview", "2025-09-01")
SUPPORTED_HEADER = ", ".join(API_VERSIONS)

# The spec: "we limit the total size of an email request (which includes attachments) to 10MB".
MAX_REQUEST_BYTES = 10 * 1024 * 1024
# ACS documents at most 50 recipients over To, CC and BCC together.
MAX_RECIPIENTS = 50
# Seconds a client is told to wait between polls; the control API may shorten it for tests.
DEFAULT_RETRY_AFTER = 1.0

# Deliberately plain: one @, no spaces, a dot in the domain. ACS is stricter; never looser.
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$")

DROPPED_CODE = "EmailDropped"


def _bad_request(message: str, target: str | None = None) -> errors.ApiError:
    # Email errors follow common-types ErrorResponse, with x-ms-error-code equal to the code.
    return errors.flat(400, "BadRequest", message, target=target)


def _parse(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise _bad_request("The request body must be a JSON object.")
    return data


def _address(value: Any, target: str) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("address"), str):
        raise _bad_request(f"{target}: an address is required.", target)
    address = value["address"].strip()
    if not _ADDRESS.match(address):
        raise _bad_request(f"{target}: '{address}' is not a valid email address.", target)
    name = value.get("displayName")
    if name is not None and not isinstance(name, str):
        raise _bad_request(f"{target}: displayName must be a string.", target)
    return {"address": address, "displayName": name} if name else {"address": address}


def _address_list(value: Any, target: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad_request(f"{target} must be a list of addresses.", target)
    return [_address(item, f"{target}[{n}]") for n, item in enumerate(value)]


def _attachments(value: Any) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad_request("attachments must be a list.", "attachments")
    out = []
    for n, item in enumerate(value):
        target = f"attachments[{n}]"
        if not isinstance(item, dict):
            raise _bad_request(f"{target} must be an object.", target)
        for field in ("name", "contentType", "contentInBase64"):
            if not isinstance(item.get(field), str) or not item[field]:
                raise _bad_request(f"{target}.{field} is required.", f"{target}.{field}")
        try:
            size = len(base64.b64decode(item["contentInBase64"], validate=True))
        except (binascii.Error, ValueError):
            raise _bad_request(
                f"{target}.contentInBase64 is not valid base64.", f"{target}.contentInBase64"
            ) from None
        out.append({**item, "size": size})
    return out


def validate_message(body: bytes) -> dict:
    """The EmailMessage of a send request, normalised; raises the 400s and 413 ACS would."""
    if len(body) > MAX_REQUEST_BYTES:
        raise errors.flat(
            413,
            "RequestEntityTooLarge",
            f"The email request is {len(body)} bytes; the limit, attachments included, is "
            f"{MAX_REQUEST_BYTES} bytes (10 MB).",
        )
    data = _parse(body)
    sender = data.get("senderAddress")
    if not isinstance(sender, str) or not sender.strip():
        raise _bad_request("senderAddress is required.", "senderAddress")
    if not _ADDRESS.match(sender.strip()):
        raise _bad_request(
            f"senderAddress '{sender}' is not a valid email address.", "senderAddress"
        )
    content = data.get("content")
    if not isinstance(content, dict):
        raise _bad_request("content is required.", "content")
    subject = content.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise _bad_request("content.subject is required.", "content.subject")
    for field in ("plainText", "html"):
        if content.get(field) is not None and not isinstance(content[field], str):
            raise _bad_request(f"content.{field} must be a string.", f"content.{field}")
    if not content.get("plainText") and not content.get("html"):
        raise _bad_request("content.plainText or content.html is required.", "content")
    recipients = data.get("recipients")
    if not isinstance(recipients, dict):
        raise _bad_request("recipients is required.", "recipients")
    lists = {
        kind: _address_list(recipients.get(kind), f"recipients.{kind}")
        for kind in ("to", "cc", "bcc")
    }
    total = sum(len(addresses) for addresses in lists.values())
    if total == 0:
        raise _bad_request("At least one recipient is required.", "recipients")
    if total > MAX_RECIPIENTS:
        raise _bad_request(
            f"{total} recipients given; at most {MAX_RECIPIENTS} are allowed over to, cc and "
            "bcc together.",
            "recipients",
        )
    headers = data.get("headers")
    if headers is not None and (
        not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
    ):
        raise _bad_request("headers must map names to strings.", "headers")
    return {
        "senderAddress": sender.strip(),
        "subject": subject,
        "plainText": content.get("plainText"),
        "html": content.get("html"),
        **lists,
        "replyTo": _address_list(data.get("replyTo"), "replyTo"),
        "headers": headers or {},
        "attachments": _attachments(data.get("attachments")),
    }


def _operation_id(req: Request) -> str:
    """The caller's Operation-Id (the spec declares a UUID), else a fresh one."""
    given = req.header("operation-id")
    if given is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(given.strip()))
    except ValueError:
        raise _bad_request("The Operation-Id header must be a UUID.", "Operation-Id") from None


def _wait_headers(seconds: float) -> dict[str, str]:
    """Retry-After in whole seconds, as the spec says (the SDK reads it as an int). A shortened
    interval below a second goes in retry-after-ms instead, which azure-core's poller honours."""
    if seconds >= 1:
        return {"Retry-After": str(round(seconds))}
    return {"retry-after-ms": str(max(1, round(seconds * 1000)))}


class EmailApi:
    """Email_Send and Email_GetSendResult over a Store, plus the inbox's reads and controls.

    A send is stored at once; its status moves NotStarted -> Running -> its outcome one step per
    status poll (or per Retry-After interval elapsed, for clients that do not poll). The outcome
    is Failed when a recipient was marked bad through the control API, else Succeeded."""

    def __init__(self, store: Store, now: Callable[[], datetime]):
        self.store = store
        self.now = now

    # --- settings kept in the store, so processes sharing a state file share them ----------
    def retry_after(self) -> float:
        value = self.store.get_meta("email_retry_after")
        return float(value) if value is not None else DEFAULT_RETRY_AFTER

    def set_retry_after(self, seconds: float) -> None:
        seconds = float(seconds)
        if not 0 < seconds <= 3600:
            raise ValueError("retry_after must be more than 0 and at most 3600 seconds")
        self.store.set_meta("email_retry_after", repr(seconds))

    def mark_bad_address(self, address: object) -> None:
        if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
            raise ValueError(f"'{address}' is not a valid email address")
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO email_bad_addresses (address) VALUES (?)",
                (address.strip().lower(),),
            )

    def bad_addresses(self) -> list[str]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT address FROM email_bad_addresses ORDER BY address")
            return [row["address"] for row in rows]

    def clear_bad_addresses(self) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM email_bad_addresses")

    def clear(self) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM emails")

    # --- the API -------------------------------------------------------------------------------
    def _status_response(self, req: Request, row, status: int) -> Response:
        state = self._state(row)
        body: dict[str, Any] = {"id": row["operation_id"], "status": state}
        headers: dict[str, str] = {}
        if state == "Failed":
            body["error"] = json.loads(row["error"])
        if state in ("NotStarted", "Running"):
            headers.update(_wait_headers(self.retry_after()))
        if status == 202:
            headers["Operation-Location"] = (
                f"{req.base_url}/emails/operations/{row['operation_id']}"
                f"?api-version={req.api_version}"
            )
        return Response(status, body, headers)

    def _state(self, row) -> str:
        elapsed = (to_ticks(self.now()) - row["received"]) / TICKS_PER_SECOND
        stage = max(row["polls"], int(elapsed / self.retry_after()))
        if stage <= 0:
            return "NotStarted"
        if stage == 1:
            return "Running"
        return row["outcome"]

    def send(self, req: Request) -> Response:
        operation_id = _operation_id(req)
        with self.store.read() as conn:
            seen = conn.execute(
                "SELECT * FROM emails WHERE operation_id = ?", (operation_id,)
            ).fetchone()
        if seen is not None:  # a resend of the same operation is the same message
            return self._status_response(req, seen, 202)
        message = validate_message(req.body)
        with self.store.write() as conn:
            # Checked again inside the write: two racing resends must still make one message.
            seen = conn.execute(
                "SELECT * FROM emails WHERE operation_id = ?", (operation_id,)
            ).fetchone()
            if seen is not None:
                return self._status_response(req, seen, 202)
            bad = {row["address"] for row in conn.execute("SELECT * FROM email_bad_addresses")}
            dropped = [
                entry["address"]
                for kind in ("to", "cc", "bcc")
                for entry in message[kind]
                if entry["address"].lower() in bad
            ]
            error = None
            if dropped:
                error = {
                    "code": DROPPED_CODE,
                    "message": "Email was dropped after several attempts to deliver to "
                    + ", ".join(dropped)
                    + ".",
                }
            conn.execute(
                "INSERT INTO emails (id, operation_id, received, polls, outcome, error, message) "
                "VALUES (?, ?, ?, 0, ?, ?, ?)",
                (
                    str(uuid.uuid4()),
                    operation_id,
                    to_ticks(self.now()),
                    "Failed" if dropped else "Succeeded",
                    json.dumps(error) if error else None,
                    json.dumps(message),
                ),
            )
            row = conn.execute(
                "SELECT * FROM emails WHERE operation_id = ?", (operation_id,)
            ).fetchone()
        return self._status_response(req, row, 202)

    def get_send_result(self, req: Request, operation_id: str) -> Response:
        with self.store.write() as conn:
            conn.execute(
                "UPDATE emails SET polls = polls + 1 WHERE operation_id = ?",
                (operation_id.strip().lower(),),
            )
            row = conn.execute(
                "SELECT * FROM emails WHERE operation_id = ?", (operation_id.strip().lower(),)
            ).fetchone()
        if row is None:
            raise errors.flat(404, "NotFound", f"No email send operation with id '{operation_id}'.")
        return self._status_response(req, row, 200)

    # --- the inbox's reads -----------------------------------------------------------------------
    def _public(self, row) -> dict:
        message = json.loads(row["message"])
        return {
            "id": row["id"],
            "operationId": row["operation_id"],
            "status": self._state(row),
            "error": json.loads(row["error"]) if row["error"] else None,
            "receivedAt": format_ticks(row["received"]),
            "senderAddress": message["senderAddress"],
            "to": message["to"],
            "cc": message["cc"],
            "bcc": message["bcc"],
            "replyTo": message["replyTo"],
            "headers": message["headers"],
            "subject": message["subject"],
            "html": message["html"],
            "plainText": message["plainText"],
            "attachments": [
                {"name": a["name"], "contentType": a["contentType"], "size": a["size"]}
                for a in message["attachments"]
            ],
        }

    def messages(self) -> list[dict]:
        """Every kept message, newest first."""
        with self.store.read() as conn:
            rows = conn.execute("SELECT * FROM emails ORDER BY seq DESC").fetchall()
        return [self._public(row) for row in rows]

    def message(self, message_id: str) -> dict | None:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM emails WHERE id = ?", (message_id,)).fetchone()
        return None if row is None else self._public(row)

    def attachment(self, message_id: str, index: int) -> tuple[str, str, bytes] | None:
        """(name, contentType, content) of a message's attachment, or None."""
        with self.store.read() as conn:
            row = conn.execute("SELECT message FROM emails WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        attachments = json.loads(row["message"])["attachments"]
        if not 0 <= index < len(attachments):
            return None
        item = attachments[index]
        return item["name"], item["contentType"], base64.b64decode(item["contentInBase64"])
