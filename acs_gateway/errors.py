"""ACS errors as the portal sees them, mapped from the SDKs' exceptions."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from acs_gateway.records import Attempt

# --------------------------------------------------------------------------- errors


class AcsError(Exception):
    """A failed ACS call; `transient` tells the caller whether retrying later can help."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        target: str | None = None,
        details: list[dict] | None = None,
        operation: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.target = target
        self.details = details or []
        self.operation = operation
        self.attempt: Attempt | None = None

    def __str__(self) -> str:
        head = f"{self.status or '-'} {self.code or type(self).__name__}"
        return f"{head}: {self.message}"


class AcsNotFound(AcsError):
    """404: the room or identity does not exist (or no longer exists)."""


class AcsInvalidRequest(AcsError):
    """400/412 and other permanent 4xx: ACS rejected the request as sent; retrying will not help."""


class AcsThrottled(AcsError):
    """429: too many requests; wait `retry_after` seconds (when ACS says) and try again."""

    transient = True


class AcsUnavailable(AcsError):
    """5xx, timeouts and dropped connections: transient; `retry_after` is set when ACS sent one."""

    transient = True


class AcsAuthError(AcsError):
    """401/403: the access key or signature was refused; a configuration problem."""


# --------------------------------------------------------------------------- error mapping


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _request_id(headers: Any) -> str | None:
    if not headers:
        return None
    for name in ("x-ms-request-id", "MS-CV", "x-ms-client-request-id", "X-Azure-Ref"):
        value = headers.get(name)
        if value:
            return value
    return None


def _error_fields(response: Any) -> tuple[str | None, str | None, str | None, list[dict]]:
    """(code, message, target, details) from an ACS error body, tolerating odd bodies."""
    try:
        body = response.json()
    except Exception:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return response.headers.get("x-ms-error-code"), None, None, []
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    message = error.get("message")
    # ACS puts the useful validation text in details; keep it next to the generic envelope message.
    extra = [
        f"{d['target']}: {d.get('message', '')}" if d.get("target") else str(d.get("message", ""))
        for d in details
    ]
    if extra:
        message = " ".join(filter(None, [message, *extra]))
    return error.get("code"), message, error.get("target"), details


_STATUS_CLASSES: dict[int, type[AcsError]] = {
    401: AcsAuthError,
    403: AcsAuthError,
    404: AcsNotFound,
    408: AcsUnavailable,
    429: AcsThrottled,
}


def map_error(exc: BaseException, operation: str = "") -> AcsError:
    """Translate an azure-core exception into the portal's AcsError family."""
    if (
        isinstance(exc, HttpResponseError)
        and exc.response is not None
        and exc.response.status_code is not None
    ):
        response = exc.response
        status = exc.response.status_code
        # The SDK types the response by the few members it uses itself; the transports' responses
        # all carry headers too.
        headers = getattr(response, "headers", None)
        code, message, target, details = _error_fields(response)
        if status >= 500:
            cls: type[AcsError] = AcsUnavailable
        else:
            cls = _STATUS_CLASSES.get(status, AcsInvalidRequest)
        return cls(
            message or exc.message or f"HTTP {status}",
            status=status,
            code=code or (exc.error.code if exc.error else None),
            request_id=_request_id(headers),
            retry_after=_retry_after(headers),
            target=target,
            details=details,
            operation=operation,
        )
    if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return AcsUnavailable(str(exc) or "timed out", code="Timeout", operation=operation)
    if isinstance(exc, ServiceResponseError):
        # The request may have been applied; callers must rely on idempotency to resend.
        return AcsUnavailable(str(exc), code="ConnectionLost", operation=operation)
    if isinstance(exc, ServiceRequestError):
        return AcsUnavailable(str(exc), code="ConnectionFailed", operation=operation)
    return AcsError(str(exc) or type(exc).__name__, code=type(exc).__name__, operation=operation)
