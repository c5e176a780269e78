"""Serving the emulator over HTTP/1.1 with keep-alive (and HTTPS), honouring dropped connections."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import ssl
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from . import tls as tls_module
from .app import Emulator
from .faults import DropConnection

# An idle keep-alive connection is closed after this; clients check a pooled socket before reuse.
IDLE_TIMEOUT_S = 75.0
# A client that connects to the https port and never finishes the handshake gives up its thread.
HANDSHAKE_TIMEOUT_S = 10.0
# An unread request body up to this size is skipped so the connection stays usable; larger closes.
MAX_DRAIN_BYTES = 1 << 20


@dataclass(frozen=True)
class ServerStats:
    """What the socket server has seen since it started."""

    connections: int  # TCP connections accepted
    tls_handshakes: int  # completed TLS handshakes (0 over http)
    requests: int  # requests answered, dropped ones included


class _Body(io.RawIOBase):
    """This request's body only, so no read can eat into the next request on the connection."""

    def __init__(self, stream, length: int):
        self._stream = stream
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self.remaining)
        if wanted <= 0:
            return 0
        data = self._stream.read(wanted)
        if not data:
            raise ConnectionResetError("the client closed the connection inside the body")
        buffer[: len(data)] = data
        self.remaining -= len(data)
        return len(data)


def _drain(stream, limit: int) -> bool:
    """Read what the app left of the body; False when the connection cannot be reused."""
    if isinstance(stream, _Body):
        if stream.remaining > limit:
            return False
        while stream.remaining:
            stream.read(min(stream.remaining, 65536))
        return True
    total = 0  # chunked: read up to the terminating chunk
    try:
        while chunk := stream.read(65536):
            total += len(chunk)
            if total > limit:
                return False
    except OSError:
        return False
    return True


def _call_app(app, environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run one WSGI exchange to completion, so the body length is known before anything is sent."""
    started: dict = {}
    written: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"], started["headers"] = status, list(headers)
        return written.append

    result = app(environ, start_response)
    try:
        chunks = [bytes(chunk) for chunk in result]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if "status" not in started:
        raise RuntimeError("the WSGI app returned without calling start_response")
    return started["status"], started["headers"], b"".join(written + chunks)


class _Handler(WSGIRequestHandler):
    """werkzeug's handler with its own run_wsgi: werkzeug's always answers "Connection: close"."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    quiet = True
    server: _Server

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        if not self.server.keep_alive:
            self.close_connection = True
        if not environ.get("wsgi.input_terminated"):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                # Without a length the next request cannot be found: answer, then close.
                length, self.close_connection = 0, True
            environ["wsgi.input"] = _Body(self.rfile, max(length, 0))
        self.server.count("requests")
        try:
            status, headers, body = _call_app(self.server.app, environ)
        except (DropConnection, ConnectionError, TimeoutError):
            self._drop()
            return
        except Exception:
            self.server.log("error", "Error on request:\n%s", traceback.format_exc())
            status, headers = "500 Internal Server Error", [("Content-Type", "text/plain")]
            body = b"Internal Server Error"
            self.close_connection = True
        if not _drain(environ["wsgi.input"], MAX_DRAIN_BYTES):
            self.close_connection = True
        self._respond(status, headers, body)

    def _respond(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """Send status, headers and body in one write: no Nagle/delayed-ACK stall between them."""
        code = int(status.split(None, 1)[0])
        bodiless = code < 200 or code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)
        framing = {"content-length", "transfer-encoding", "connection", "keep-alive"}
        given = {name.lower(): value for name, value in headers}
        lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}"]
        if "date" not in given:
            lines.append(f"Date: {self.date_time_string()}")
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in framing]
        if self.command == "HEAD" and "content-length" in given:
            lines.append(f"Content-Length: {given['content-length']}")
        elif not bodiless:  # RFC 9110: a 1xx or 204 carries no Content-Length
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if bodiless or self.command == "HEAD" else head + body)
        if not self.quiet:
            self.log_request(code, len(body))

    def _drop(self) -> None:
        """Close without a status line, so the client sees the connection die mid-request."""
        self.close_connection = True
        # The plain socket's shutdown: over TLS the peer gets no close_notify, just the cut.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def log_request(self, code="-", size="-"):
        if not self.quiet:
            super().log_request(code, size)

    def log_error(self, format, *args):
        # An idle keep-alive connection timing out is routine, not an error.
        if not self.quiet and not format.startswith("Request timed out"):
            super().log_error(format, *args)


class _LoudHandler(_Handler):
    quiet = False


class _Server(ThreadedWSGIServer):
    """One thread per connection; the TLS handshake runs in that thread, not in accept()."""

    def __init__(self, host, port, app, handler, tls: ssl.SSLContext | None, keep_alive: bool):
        super().__init__(host, port, app, handler)
        # Set after werkzeug's __init__, which would wrap the listening socket itself and so
        # make every handshake run, one at a time, in the accepting thread.
        self.ssl_context = tls
        self.keep_alive = keep_alive
        self._lock = threading.Lock()
        self._counts = {"connections": 0, "tls_handshakes": 0, "requests": 0}
        self._open: set[socket.socket] = set()

    def count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def stats(self) -> ServerStats:
        with self._lock:
            return ServerStats(**self._counts)

    def finish_request(self, request, client_address) -> None:
        self.count("connections")
        # Small answers go out at once instead of waiting for the client's delayed ACK.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except OSError:  # a failed or abandoned handshake (ssl.SSLError is an OSError)
                return
            self.count("tls_handshakes")
        with self._lock:
            self._open.add(request)
        try:
            # typeshed types RequestHandlerClass with Self, which mypy leaves unbound when the
            # attribute is read through an instance, so it rejects the server itself.
            self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
        finally:
            with self._lock:
                self._open.discard(request)
            if self.ssl_context is not None:
                # The wrapped socket took over the descriptor; shutdown_request has nothing left.
                with contextlib.suppress(OSError):
                    request.close()

    def close_connections(self) -> None:
        """Cut every open keep-alive connection, so its thread ends and its client reconnects."""
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass
class ServerHandle:
    """A running emulator server."""

    emulator: Emulator
    server: _Server
    url: str  # e.g. "http://127.0.0.1:54321/"
    connection_string: str
    ca_bundle: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    temp_dir: str | None = field(default=None, repr=False)  # removed by stop()

    @property
    def port(self) -> int:
        return self.server.server_port

    def stats(self) -> ServerStats:
        """Connections, TLS handshakes and requests so far: shows whether clients reuse sockets."""
        return self.server.stats()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.close_connections()
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def _build(
    host: str,
    port: int,
    tls: bool,
    state: str | None,
    key: str | None,
    emulator: Emulator | None,
    quiet: bool,
    keep_alive: bool = True,
) -> ServerHandle:
    emu = emulator or Emulator(access_key=key, state_path=state)
    ssl_context = None
    ca_bundle = None
    temp_dir = None
    if tls:
        # Next to a state file the CA path stays the same across restarts (one env var setting).
        tls_dir = f"{state}.tls" if state else None
        files = tls_module.generate(tls_dir)
        if tls_dir is None:
            temp_dir = os.path.dirname(files.ca_bundle)
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(files.cert_chain, files.key)
        ca_bundle = files.ca_bundle
    server = _Server(host, port, emu, _Handler if quiet else _LoudHandler, ssl_context, keep_alive)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"{'https' if tls else 'http'}://{shown_host}:{server.server_port}/"
    return ServerHandle(emu, server, url, emu.connection_string(url), ca_bundle, temp_dir=temp_dir)


def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    state: str | None = None,
    key: str | None = None,
    emulator: Emulator | None = None,
    quiet: bool = True,
    keep_alive: bool = True,
) -> ServerHandle:
    """Serve in a background daemon thread; call .stop() on the handle when done.

    keep_alive=False closes the connection after every answer (a new connection, and over
    https a new handshake, per request), as the emulator did before it spoke keep-alive.
    """
    handle = _build(host, port, tls, state, key, emulator, quiet, keep_alive)
    handle.thread = threading.Thread(
        # A short poll lets stop() return at once instead of after up to half a second.
        target=handle.server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="acs-emulator",
        daemon=True,
    )
    handle.thread.start()
    return handle


def serve(
    host: str = "127.0.0.1",
    port: int = 8791,
    tls: bool = False,
    state: str | None = None,
    key: str | None = None,
    ready_callback: Callable[[ServerHandle], None] | None = None,
    emulator: Emulator | None = None,
    quiet: bool = False,
) -> None:
    """Serve in the calling thread until interrupted; ready_callback runs once bound."""
    handle = _build(host, port, tls, state, key, emulator, quiet)
    if ready_callback is not None:
        ready_callback(handle)
    try:
        handle.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        handle.server.server_close()
        handle.server.close_connections()
