"""Repeatable create: Repeatability-Request-ID and Repeatability-First-Sent (OASIS Repeatable
Requests v1.0), as ACS honours them on Rooms create and on Identity create."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from . import errors
from .errors import ApiError
from .messages import Request, Response
from .store import Store
from .timeutil import TICKS_PER_SECOND, parse_rfc1123, to_ticks

WINDOW = timedelta(minutes=5)
WINDOW_TICKS = 5 * 60 * TICKS_PER_SECOND


class Repeatable:
    """Runs a create once per Repeatability-Request-ID: a repeat of the same request within the
    window gets the first answer again; the same id with another request is rejected.

    Without either header the create simply runs. Only successful answers are remembered, for
    five minutes from when the emulator first saw them. Ids are kept per `scope` (the service)."""

    def __init__(
        self, store: Store, now: Callable[[], datetime], scope: str, *, error_code_header: bool
    ):
        self.store = store
        self.now = now
        self.scope = scope
        self.error_code_header = error_code_header

    def rejected(self, status: int, code: str, message: str) -> ApiError:
        error = errors.flat(status, code, message, error_code_header=self.error_code_header)
        error.headers["Repeatability-Result"] = "rejected"
        return error

    def request_id(self, req: Request) -> str | None:
        """The request's id, lower-cased; None without either header. Raises the rejections."""
        request_id = req.header("repeatability-request-id")
        first_sent = req.header("repeatability-first-sent")
        if request_id is None and first_sent is None:
            return None
        if request_id is None:
            raise self.rejected(
                400, "BadRequest", "The Repeatability-Request-ID header is required."
            )
        try:
            uuid.UUID(request_id.strip())
        except ValueError:
            raise self.rejected(
                400, "BadRequest", "The Repeatability-Request-ID header is not a valid UUID."
            ) from None
        if first_sent is None:
            raise self.rejected(
                400, "BadRequest", "The Repeatability-First-Sent header is required."
            )
        sent_at = parse_rfc1123(first_sent)
        if sent_at is None:
            raise self.rejected(
                400,
                "BadRequest",
                "The Repeatability-First-Sent header is not a valid RFC1123 date.",
            )
        if self.now() - sent_at > WINDOW:
            raise self.rejected(
                412,
                "PreconditionFailed",
                "The Repeatability-First-Sent header is not within the 5 minute window.",
            )
        return request_id.strip().lower()

    def create(self, req: Request, make: Callable[[sqlite3.Connection, int], Response]) -> Response:
        """`make(conn, now_ticks)` inside one write transaction, unless this is a repeat."""
        request_id = self.request_id(req)
        request_hash = hashlib.sha256(
            b"\n".join([req.path.encode(), (req.api_version or "").encode(), req.body])
        ).hexdigest()
        key = f"{self.scope}:{request_id}"
        with self.store.write() as conn:
            now = to_ticks(self.now())
            if request_id is not None:
                conn.execute(
                    "DELETE FROM repeatability WHERE first_seen < ?", (now - WINDOW_TICKS,)
                )
                seen = conn.execute(
                    "SELECT * FROM repeatability WHERE request_id = ?", (key,)
                ).fetchone()
                if seen is not None:
                    if seen["request_hash"] != request_hash:
                        raise self.rejected(
                            400,
                            "BadRequest",
                            "The Repeatability-Request-ID was already used with a different "
                            "request.",
                        )
                    headers = json.loads(seen["headers"])
                    headers["Repeatability-Result"] = "accepted"
                    return Response(seen["status"], json.loads(seen["body"]), headers)
            response = make(conn, now)
            if request_id is not None:
                response.headers["Repeatability-Result"] = "accepted"
                conn.execute(
                    "INSERT INTO repeatability VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        request_hash,
                        now,
                        response.status,
                        json.dumps(response.body),
                        json.dumps(response.headers),
                    ),
                )
            return response
