"""An azure-core transport that hands each request to a WSGI app in-process (no socket)."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from azure.core.exceptions import (
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

# --------------------------------------------------------------------------- WSGI transports


class _Closable:
    """Stands in for a socket-backed response: there is nothing to release."""

    def close(self) -> None:
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
