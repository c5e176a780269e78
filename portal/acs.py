"""ACS gateway, the portal's only door to the azure SDKs; AcsGateway documents attempt records."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from azure.communication.identity import CommunicationIdentityClient, CommunicationUserIdentifier
from azure.communication.identity.aio import (
    CommunicationIdentityClient as AsyncCommunicationIdentityClient,
)
from azure.communication.rooms import RoomParticipant, RoomsClient, UnknownIdentifier
from azure.communication.rooms.aio import RoomsClient as AsyncRoomsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import AsyncHttpTransport, HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.rest._http_response_impl_async import AsyncHttpResponseImpl
from azure.core.utils import case_insensitive_dict

__all__ = [
    "EMBEDDED_ENDPOINT",
    "AcsAuthError",
    "AcsError",
    "AcsGateway",
    "AcsInvalidRequest",
    "AcsNotFound",
    "AcsRoom",
    "AcsThrottled",
    "AcsUnavailable",
    "AsyncWsgiTransport",
    "Attempt",
    "RepeatabilityPolicy",
    "WsgiTransport",
    "async_identity_client",
    "async_rooms_client",
    "embedded_emulator",
    "map_error",
    "get_gateway",
    "identity_client",
    "parse_connection_string",
    "rooms_client",
]


class _DropNaiveDatetimeNotice(logging.Filter):
    """RoomsClient.create_room serialises its own naive datetime.utcnow(), so the SDK logs a
    WARNING on every create; the value is the SDK's (and RepeatabilityPolicy may replace it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Datetime with no tzinfo will be considered UTC."


logging.getLogger("azure.communication.rooms._generated._serialization").addFilter(
    _DropNaiveDatetimeNotice()
)

# The embedded emulator is reached in-process; the host only has to be stable because it is signed.
EMBEDDED_ENDPOINT = "https://acs-emulator.local"

# Context option read by RepeatabilityPolicy; RoomsClient.create_room forwards unknown kwargs there.
REPEATABILITY_OPTION = "acs_repeatability"


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


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class AcsRoom:
    id: str
    created_at: datetime
    valid_from: datetime
    valid_until: datetime
    pstn_dial_out_enabled: bool


@dataclass(frozen=True)
class Attempt:
    """One HTTP exchange with ACS, as the portal stores it (status None: no response arrived)."""

    operation: str
    status: int | None
    duration_ms: float
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    started_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


# --------------------------------------------------------------------------- WSGI transports


class _Closable:
    """Stands in for a socket-backed response: there is nothing to release."""

    def close(self) -> None:
        pass


class _AsyncClosable:
    async def close(self) -> None:
        pass


def _drop_connection_type() -> type[BaseException] | None:
    try:
        from acs_emulator import DropConnection
    except ImportError:
        return None
    return DropConnection


def _request_body(request: Any) -> bytes:
    body = getattr(request, "content", None)
    if body is None:
        body = getattr(request, "body", None)
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if isinstance(body, Iterable):
        return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)
    raise TypeError(f"cannot send a request body of type {type(body).__name__} in-process")


def _wsgi_str(value: str) -> str:
    """PEP 3333 native string: the UTF-8 bytes carried as latin-1 code points."""
    return value.encode("utf-8").decode("latin-1")


def build_environ(request: Any) -> dict[str, Any]:
    """Turn an azure-core request into the WSGI environ a socket server would have produced."""
    url = urlsplit(request.url)
    body = _request_body(request)
    scheme = url.scheme or "https"
    port = url.port or (443 if scheme == "https" else 80)
    raw_uri = _wsgi_str(url.path + (f"?{url.query}" if url.query else ""))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.upper(),
        "SCRIPT_NAME": "",
        # PEP 3333: PATH_INFO is decoded, carried as latin-1 code points of the UTF-8 bytes.
        "PATH_INFO": unquote_to_bytes(url.path or "/").decode("latin-1"),
        "QUERY_STRING": url.query,
        "RAW_URI": raw_uri,
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, raw_value in request.headers.items():
        key = name.upper().replace("-", "_")
        value = _wsgi_str(str(raw_value))
        if key == "CONTENT_LENGTH":
            continue
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key == "HOST":
            environ["HTTP_HOST"] = value
        else:
            environ[f"HTTP_{key}"] = value
    return environ


def call_wsgi(
    app: Callable, environ: dict[str, Any]
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """Run one WSGI exchange; an emulator connection drop becomes azure-core's socket error."""
    captured: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        if exc_info and captured:
            raise exc_info[1].with_traceback(exc_info[2])
        captured["status"] = status
        captured["headers"] = headers
        return written.append

    drop_type = _drop_connection_type()
    try:
        result = app(environ, start_response)
        try:
            chunks = [bytes(c) for c in result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception as exc:
        if drop_type is not None and isinstance(exc, drop_type):
            # applied: the server acted, then the socket died before the answer (a response error);
            # not applied: the request never made it (a request error, safe to resend).
            if getattr(exc, "applied", False):
                raise ServiceResponseError(
                    "Connection dropped after the request", error=exc
                ) from exc
            raise ServiceRequestError("Connection dropped before the request", error=exc) from exc
        raise
    if "status" not in captured:
        raise ServiceResponseError("The WSGI app returned without starting a response")
    code, _, reason = captured["status"].partition(" ")
    return int(code), reason, captured["headers"], b"".join(written + chunks)


def _response_headers(pairs: list[tuple[str, str]]):
    headers = case_insensitive_dict()
    for name, value in pairs:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class _WsgiResponse(HttpResponseImpl):
    def __init__(self, request, status, reason, headers, body) -> None:
        super().__init__(
            request=request,
            internal_response=_Closable(),
            status_code=status,
            reason=reason,
            headers=headers,
            content_type=headers.get("Content-Type"),
            stream_download_generator=lambda **_: iter([body] if body else []),
        )
        self._content = body


class _AsyncWsgiResponse(AsyncHttpResponseImpl):
    def __init__(self, request, status, reason, headers, body) -> None:
        async def stream(**_):
            if body:
                yield body

        super().__init__(
            request=request,
            internal_response=_AsyncClosable(),
            status_code=status,
            reason=reason,
            headers=headers,
            content_type=headers.get("Content-Type"),
            stream_download_generator=stream,
        )
        self._content = body


class WsgiTransport(HttpTransport):
    """Sync azure-core transport that hands each request to a WSGI app in-process (no socket)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def send(self, request, **kwargs: Any):
        status, reason, headers, body = call_wsgi(self.app, build_environ(request))
        return _WsgiResponse(request, status, reason, _response_headers(headers), body)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> WsgiTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass


class AsyncWsgiTransport(AsyncHttpTransport):
    """Async twin of WsgiTransport; the WSGI call runs in a worker thread so latency faults and
    SQLite I/O do not block the event loop."""

    def __init__(self, app: Callable, *, offload: bool = True) -> None:
        self.app = app
        self.offload = offload

    async def send(self, request, **kwargs: Any):
        environ = build_environ(request)
        if self.offload:
            status, reason, headers, body = await asyncio.to_thread(call_wsgi, self.app, environ)
        else:
            status, reason, headers, body = call_wsgi(self.app, environ)
        return _AsyncWsgiResponse(request, status, reason, _response_headers(headers), body)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncWsgiTransport:
        return self

    async def __aexit__(self, *args: Any) -> None:
        pass


# --------------------------------------------------------------------------- policies


class RepeatabilityPolicy(SansIOHTTPPolicy):
    """Lets a caller pin Repeatability-Request-ID / -First-Sent, which RoomsClient.create_room
    otherwise overwrites with fresh values on every call (so a retried create could not be
    recognised by ACS). Pass `acs_repeatability=(request_id, first_sent)` to create_room."""

    def on_request(self, request) -> None:
        pinned = request.context.options.pop(REPEATABILITY_OPTION, None)
        if not pinned:
            return
        request_id, first_sent = pinned
        request.http_request.headers["Repeatability-Request-ID"] = request_id
        request.http_request.headers["Repeatability-First-Sent"] = format_datetime(
            first_sent.astimezone(UTC), usegmt=True
        )


# --------------------------------------------------------------------------- client factories


def parse_connection_string(connection_string: str) -> tuple[str, str]:
    """`endpoint=http(s)://host[:port]/;accesskey=KEY` -> (endpoint without trailing slash, key)."""
    endpoint = key = ""
    for part in connection_string.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "endpoint":
            endpoint = value.strip().rstrip("/")
        elif name.lower() == "accesskey":
            key = value.strip()
    if not endpoint or not key:
        raise ValueError("ACS connection string needs endpoint=...;accesskey=...")
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    return endpoint, key


_embedded_lock = threading.Lock()
_embedded: dict[str | None, Any] = {}


def embedded_emulator(state_path: str | os.PathLike | None = None):
    """The process-wide emulator used without a connection string (one per state file;
    default: settings.ACS_EMULATOR_STATE, in memory when that is empty)."""
    if state_path is None:
        state_path = _setting("ACS_EMULATOR_STATE", None)
    # str or Path naming the same file must share one emulator.
    key = str(Path(state_path).resolve()) if state_path else None
    with _embedded_lock:
        emulator = _embedded.get(key)
        if emulator is None:
            # Imported here: a portal talking to real ACS never loads the emulator.
            from acs_emulator import Emulator

            if key:
                Path(key).parent.mkdir(parents=True, exist_ok=True)
            emulator = _embedded[key] = Emulator(state_path=key)
        return emulator


def _setting(name: str, default: Any) -> Any:
    try:
        from django.conf import settings

        return getattr(settings, name, default)
    except Exception:  # Django missing or not configured: the core API stays usable without it.
        return default


def _client_args(
    connection_string: str, ca_bundle: str, app: Callable | None, is_async: bool, kwargs: dict
) -> tuple[str, AzureKeyCredential, dict]:
    if not connection_string:
        app = app if app is not None else embedded_emulator()
        connection_string = app.connection_string(EMBEDDED_ENDPOINT + "/")
    endpoint, key = parse_connection_string(connection_string)
    if app is not None and "transport" not in kwargs:
        kwargs["transport"] = AsyncWsgiTransport(app) if is_async else WsgiTransport(app)
    if ca_bundle:
        kwargs.setdefault("connection_verify", ca_bundle)
    return endpoint, AzureKeyCredential(key), kwargs


# The SDKs default api_version to a str-mixin Enum; their pagers put that object into the next-page
# query, which Python >= 3.11 formats as "ApiVersion.V2025_03_13". Plain strings avoid that.
ROOMS_API_VERSION = "2025-03-13"
IDENTITY_API_VERSION = "2023-10-01"


def _client(cls, api_version: str, is_async: bool, connection_string, ca_bundle, app, kwargs):
    endpoint, credential, kwargs = _client_args(connection_string, ca_bundle, app, is_async, kwargs)
    # A plain string: the SDKs' own enum default leaks "ApiVersion.V…" into nextLink queries.
    kwargs.setdefault("api_version", api_version)
    if api_version == ROOMS_API_VERSION:
        kwargs["per_call_policies"] = [RepeatabilityPolicy(), *kwargs.get("per_call_policies", [])]
    # Not from_connection_string: it forces https, which breaks http endpoints.
    return cls(endpoint, credential, **kwargs)


def rooms_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> RoomsClient:
    """A RoomsClient. Empty connection string: the embedded emulator (or `app`) in-process.
    With `app` and a connection string: that app in-process at the connection string's endpoint.
    Extra kwargs go to the SDK client (e.g. retry_total, per_retry_policies, transport)."""
    return _client(RoomsClient, ROOMS_API_VERSION, False, connection_string, ca_bundle, app, kwargs)


def async_rooms_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> AsyncRoomsClient:
    return _client(
        AsyncRoomsClient, ROOMS_API_VERSION, True, connection_string, ca_bundle, app, kwargs
    )


def identity_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> CommunicationIdentityClient:
    return _client(
        CommunicationIdentityClient,
        IDENTITY_API_VERSION,
        False,
        connection_string,
        ca_bundle,
        app,
        kwargs,
    )


def async_identity_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> AsyncCommunicationIdentityClient:
    return _client(
        AsyncCommunicationIdentityClient,
        IDENTITY_API_VERSION,
        True,
        connection_string,
        ca_bundle,
        app,
        kwargs,
    )


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
    if isinstance(exc, HttpResponseError) and exc.response is not None:
        response = exc.response
        status = response.status_code
        code, message, target, details = _error_fields(response)
        if status >= 500:
            cls: type[AcsError] = AcsUnavailable
        else:
            cls = _STATUS_CLASSES.get(status, AcsInvalidRequest)
        return cls(
            message or exc.message or f"HTTP {status}",
            status=status,
            code=code or (exc.error.code if exc.error else None),
            request_id=_request_id(response.headers),
            retry_after=_retry_after(response.headers),
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


# --------------------------------------------------------------------------- gateway


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _room(sdk_room: Any) -> AcsRoom:
    return AcsRoom(
        id=str(sdk_room.id),
        created_at=_parse_time(sdk_room.created_at),
        valid_from=_parse_time(sdk_room.valid_from),
        valid_until=_parse_time(sdk_room.valid_until),
        pstn_dial_out_enabled=bool(sdk_room.pstn_dial_out_enabled),
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("ACS times must be timezone-aware")
    return value.astimezone(UTC)


def _role(role: Any) -> str:
    return str(getattr(role, "value", role))


_DONE = object()


class _Call:
    """Times one HTTP exchange and turns its outcome into an Attempt (and AcsError on failure)."""

    def __init__(self, gateway: AcsGateway, operation: str, on_attempt) -> None:
        self.gateway = gateway
        self.operation = operation
        self.on_attempt = on_attempt
        self.headers: Any = None
        self.status: int | None = None

    def hook(self, pipeline_response) -> None:
        self.status = pipeline_response.http_response.status_code
        self.headers = pipeline_response.http_response.headers

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an SDK method with this call's response hook attached."""
        return self._timed(lambda: fn(*args, raw_response_hook=self.hook, **kwargs))

    def next_page(self, pages: Iterator) -> Any:
        """Fetch the next page of a pager built with this call's hook; _DONE at the end (no
        request is made then, so no attempt is recorded)."""
        return self._timed(lambda: next(pages, _DONE))

    def _timed(self, thunk: Callable[[], Any]) -> Any:
        self.status = self.headers = None
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            result = thunk()
        except AzureError as exc:
            error = map_error(exc, self.operation)
            error.attempt = self._record(started_at, started, error)
            raise error from exc
        except Exception as exc:
            # A bug on our side, not an ACS answer: record it, but let it surface unchanged.
            self._record(started_at, started, AcsError(str(exc), code=type(exc).__name__))
            raise
        if result is not _DONE:
            self._record(started_at, started, None)
        return result

    def _record(self, started_at: datetime, started: float, error: AcsError | None) -> Attempt:
        attempt = Attempt(
            operation=self.operation,
            # An error raised after a response arrived (say, an undecodable body) keeps its status.
            status=(error.status if error else None) or self.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            request_id=(error.request_id if error else None) or _request_id(self.headers),
            started_at=started_at,
        )
        for callback in (self.gateway.on_attempt, self.on_attempt):
            if callback is not None:
                callback(attempt)
        return attempt


class AcsGateway:
    """Thin, synchronous facade over the Rooms and Identity SDKs returning plain values.

    Attempts: every HTTP exchange (one per call; one per page for the list_* iterators) produces an
    `Attempt(operation, status, duration_ms, error_code, error_message, request_id, started_at)`,
    passed to the gateway-wide `on_attempt` callback given at construction and to the per-call
    `on_attempt=` keyword every method accepts. A failure raises an AcsError whose `.attempt` is
    that same record. The gateway does not retry (retry_total=0): the caller decides, using
    `AcsError.transient` and `.retry_after`.
    """

    def __init__(
        self,
        connection_string: str = "",
        *,
        ca_bundle: str = "",
        app: Callable | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        retry_total: int = 0,
        **client_kwargs: Any,
    ) -> None:
        self.on_attempt = on_attempt
        client_kwargs["retry_total"] = retry_total
        # Bounded socket waits, so a hung ACS turns into AcsUnavailable instead of a stuck worker.
        client_kwargs.setdefault("connection_timeout", 10)
        client_kwargs.setdefault("read_timeout", 30)
        self.rooms = rooms_client(connection_string, ca_bundle=ca_bundle, app=app, **client_kwargs)
        self.identity = identity_client(
            connection_string, ca_bundle=ca_bundle, app=app, **client_kwargs
        )

    def close(self) -> None:
        self.rooms.close()
        # The sync identity client has no close(); its generated client does.
        self.identity._identity_service_client.close()

    def _call(self, operation: str, on_attempt) -> _Call:
        return _Call(self, operation, on_attempt)

    # -- rooms

    def create_room(
        self,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        pstn_dial_out_enabled: bool = False,
        participants: dict[str, str] | None = None,
        repeatability_request_id: str | None = None,
        repeatability_first_sent: datetime | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> AcsRoom:
        """Create a room. Pass the stored repeatability id and first-sent time when retrying, so
        ACS answers with the room it already made instead of making a second one. ACS keeps
        ids for 5 minutes: an older first-sent time is refused (412, AcsInvalidRequest)."""
        kwargs: dict[str, Any] = {}
        if repeatability_request_id:
            first_sent = repeatability_first_sent or datetime.now(UTC)
            kwargs[REPEATABILITY_OPTION] = (repeatability_request_id, _utc(first_sent))
        # The SDK only reads .raw_id when serialising, so the raw id travels verbatim.
        sdk_participants = [
            RoomParticipant(communication_identifier=UnknownIdentifier(raw_id), role=_role(role))
            for raw_id, role in (participants or {}).items()
        ]
        room = self._call("create_room", on_attempt).run(
            self.rooms.create_room,
            valid_from=_utc(valid_from),
            valid_until=_utc(valid_until),
            pstn_dial_out_enabled=pstn_dial_out_enabled,
            participants=sdk_participants or None,
            **kwargs,
        )
        return _room(room)

    def get_room(self, room_id: str, *, on_attempt=None) -> AcsRoom:
        return _room(self._call("get_room", on_attempt).run(self.rooms.get_room, room_id))

    def update_room(
        self,
        room_id: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        pstn_dial_out_enabled: bool | None = None,
        on_attempt=None,
    ) -> AcsRoom:
        """Merge-patch a room; None leaves a field unchanged (ACS treats null as 'no change')."""
        room = self._call("update_room", on_attempt).run(
            self.rooms.update_room,
            room_id=room_id,
            valid_from=_utc(valid_from),
            valid_until=_utc(valid_until),
            pstn_dial_out_enabled=pstn_dial_out_enabled,
        )
        return _room(room)

    def delete_room(self, room_id: str, *, on_attempt=None) -> None:
        self._call("delete_room", on_attempt).run(self.rooms.delete_room, room_id)

    def _pages(self, operation: str, on_attempt, make_pager: Callable[..., Any]) -> Iterator:
        call = self._call(operation, on_attempt)
        pages = make_pager(raw_response_hook=call.hook).by_page()
        while (page := call.next_page(pages)) is not _DONE:
            yield from page

    def list_rooms(self, *, on_attempt=None) -> Iterator[AcsRoom]:
        """All rooms, fetched lazily page by page (one Attempt per page)."""
        for room in self._pages("list_rooms", on_attempt, self.rooms.list_rooms):
            yield _room(room)

    def list_participants(self, room_id: str, *, on_attempt=None) -> dict[str, str]:
        return {
            p.communication_identifier.raw_id: _role(p.role)
            for p in self._pages(
                "list_participants",
                on_attempt,
                lambda **kw: self.rooms.list_participants(room_id, **kw),
            )
        }

    def update_participants(
        self,
        room_id: str,
        *,
        upserts: dict[str, str] | None = None,
        removals: Iterable[str] = (),
        on_attempt=None,
    ) -> None:
        """Add/update roles and remove participants in ONE merge-patch (null removes)."""
        body: dict[str, Any] = {
            raw_id: {"role": _role(role)} for raw_id, role in (upserts or {}).items()
        }
        for raw_id in removals:
            body.setdefault(raw_id, None)
        if not body:
            return
        # RoomsClient can only send upserts or removals per call; its generated operation sends
        # any merge-patch body through the same pipeline (signing, errors).
        operation = self.rooms._rooms_service_client.participants.update
        self._call("update_participants", on_attempt).run(
            operation, room_id=room_id, update_participants_request={"participants": body}
        )

    # -- identity

    def create_user(
        self,
        *,
        repeatability_request_id: str | None = None,
        repeatability_first_sent: datetime | None = None,
        on_attempt=None,
    ) -> str:
        """Create an ACS user. As with create_room, send the stored repeatability id and
        first-sent time on every retry: within 5 minutes ACS answers with the user the first
        request made instead of making another. The Identity SDK adds no such headers itself;
        create_user passes `headers=` through to the request it builds."""
        kwargs: dict[str, Any] = {}
        if repeatability_request_id:
            first_sent = _utc(repeatability_first_sent or datetime.now(UTC))
            kwargs["headers"] = {
                "Repeatability-Request-ID": repeatability_request_id,
                "Repeatability-First-Sent": format_datetime(first_sent, usegmt=True),
            }
        user = self._call("create_user", on_attempt).run(self.identity.create_user, **kwargs)
        return user.raw_id

    def delete_user(self, raw_id: str, *, on_attempt=None) -> None:
        user = CommunicationUserIdentifier(raw_id, raw_id=raw_id)
        self._call("delete_user", on_attempt).run(self.identity.delete_user, user)

    def issue_token(
        self, raw_id: str, scopes: Iterable[str], minutes: int = 1440, *, on_attempt=None
    ) -> tuple[str, datetime]:
        user = CommunicationUserIdentifier(raw_id, raw_id=raw_id)
        token = self._call("issue_token", on_attempt).run(
            self.identity.get_token,
            user,
            [str(getattr(s, "value", s)) for s in scopes],
            token_expires_in=timedelta(minutes=minutes),
        )
        return token.token, _parse_time(token.expires_on)

    def revoke_tokens(self, raw_id: str, *, on_attempt=None) -> None:
        user = CommunicationUserIdentifier(raw_id, raw_id=raw_id)
        self._call("revoke_tokens", on_attempt).run(self.identity.revoke_tokens, user)


_gateway_lock = threading.Lock()
_gateways: dict[tuple[str, str, str], AcsGateway] = {}


def get_gateway() -> AcsGateway:
    """The process-wide gateway for the current settings (ACS_CONNECTION_STRING, ACS_CA_BUNDLE,
    ACS_EMULATOR_STATE); one per distinct configuration, so override_settings in tests works."""
    key = (
        _setting("ACS_CONNECTION_STRING", "") or "",
        _setting("ACS_CA_BUNDLE", "") or "",
        str(_setting("ACS_EMULATOR_STATE", "") or ""),
    )
    with _gateway_lock:
        gateway = _gateways.get(key)
        if gateway is None:
            connection_string, ca_bundle, state = key
            app = None if connection_string else embedded_emulator(state or None)
            gateway = _gateways[key] = AcsGateway(connection_string, ca_bundle=ca_bundle, app=app)
        return gateway
