"""Serving the emulator over HTTP(S) with werkzeug, honouring dropped-connection faults."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import tls as tls_module
from .app import Emulator
from .faults import DropConnection


class _Dropped(ConnectionError):
    """DropConnection in the form werkzeug's handler treats as a vanished connection."""


class _Handler(WSGIRequestHandler):
    quiet = True

    def connection_dropped(self, error, environ=None):
        if isinstance(error, _Dropped):
            # Close without a status line so the client sees the connection die mid-request.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def log_request(self, code="-", size="-"):
        if not self.quiet:
            super().log_request(code, size)


class _LoudHandler(_Handler):
    quiet = False


def _wrap(app):
    def wrapped(environ, start_response):
        try:
            return app(environ, start_response)
        except DropConnection as exc:
            raise _Dropped(str(exc)) from exc

    return wrapped


@dataclass
class ServerHandle:
    """A running emulator server."""

    emulator: Emulator
    server: BaseWSGIServer
    url: str  # e.g. "http://127.0.0.1:54321/"
    connection_string: str
    ca_bundle: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)
    temp_dir: str | None = field(default=None, repr=False)  # removed by stop()

    @property
    def port(self) -> int:
        return self.server.server_port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
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
    server = make_server(
        host,
        port,
        _wrap(emu),
        threaded=True,
        request_handler=_Handler if quiet else _LoudHandler,
        ssl_context=ssl_context,
    )
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
) -> ServerHandle:
    """Serve in a background daemon thread; call .stop() on the handle when done."""
    handle = _build(host, port, tls, state, key, emulator, quiet)
    handle.thread = threading.Thread(
        target=handle.server.serve_forever, name="acs-emulator", daemon=True
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
