"""The socket server keeps connections alive (HTTP/1.1), serves clients at once and still drops."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
import threading
from http.client import RemoteDisconnected

import aiohttp
import pytest
from azure.communication.rooms import RoomsClient
from azure.communication.rooms.aio import RoomsClient as AsyncRoomsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import AioHttpTransport

from acs_emulator import start_server
from acs_emulator.faults import Faults
from acs_emulator.server import MAX_DRAIN_BYTES
from tests.emulator.conftest import IDENTITY_VERSION, ROOMS_VERSION, hmac_headers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# How long a client waits before a missing answer counts as a hang; never reached when it works.
HANG_GUARD_S = 10
# A dropped connection shows up as one of these, never as a timeout.
CUT = (RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)


@pytest.fixture(params=["http", "https"])
def served(request):
    handle = start_server(tls=request.param == "https")
    yield handle
    handle.stop()


@pytest.fixture
def https_server():
    handle = start_server(tls=True)
    yield handle
    handle.stop()


def connect(handle) -> http.client.HTTPConnection:
    if handle.ca_bundle:
        context = ssl.create_default_context(cafile=handle.ca_bundle)
        return http.client.HTTPSConnection(
            "127.0.0.1", handle.port, context=context, timeout=HANG_GUARD_S
        )
    return http.client.HTTPConnection("127.0.0.1", handle.port, timeout=HANG_GUARD_S)


def exchange(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def signed(handle, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    return hmac_headers(
        handle.emulator.access_key, method, path, body, host=f"127.0.0.1:{handle.port}"
    )


def raw_exchange(handle, request: bytes) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", handle.port), timeout=HANG_GUARD_S) as plain:
        sock = plain
        if handle.ca_bundle:
            context = ssl.create_default_context(cafile=handle.ca_bundle)
            sock = context.wrap_socket(plain, server_hostname="127.0.0.1")
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):  # a timeout here would mean it was left open
            received += chunk
    return received


def rooms_sdk(handle) -> RoomsClient:
    return RoomsClient(
        handle.url.rstrip("/"),
        AzureKeyCredential(handle.emulator.access_key),
        connection_verify=handle.ca_bundle or True,
        retry_total=0,
    )


def test_it_answers_two_requests_over_one_connection(served):
    conn = connect(served)
    first, _ = exchange(conn, "GET", "/_emulator/health")
    sock = conn.sock
    second, body = exchange(conn, "GET", "/_emulator/requests")
    assert (first.status, second.status) == (200, 200)
    assert json.loads(body) == {"requests": [], "counts": {}}
    assert first.getheader("Connection") is None and not second.will_close
    assert conn.sock is sock, "the client had to open a second socket"
    stats = served.stats()
    assert (stats.connections, stats.requests) == (1, 2)
    assert stats.tls_handshakes == (1 if served.ca_bundle else 0)
    conn.close()


def test_it_keeps_the_connection_after_errors_and_empty_answers(served):
    conn = connect(served)
    denied, _ = exchange(conn, "GET", f"/rooms?api-version={ROOMS_VERSION}")
    assert denied.status == 401
    missing, _ = exchange(conn, "GET", "/_emulator/nothing")
    assert missing.status == 404
    path = f"/identities/8:acs:x_y?api-version={IDENTITY_VERSION}"
    deleted, body = exchange(conn, "DELETE", path, headers=signed(served, "DELETE", path))
    assert deleted.status == 204 and body == b""
    assert deleted.getheader("Content-Length") is None  # RFC 9110: none on a 204
    head, body = exchange(conn, "HEAD", "/_emulator/health")
    assert body == b"" and int(head.getheader("Content-Length")) > 0
    path = f"/rooms?api-version={ROOMS_VERSION}"
    payload = b"{}"
    created, body = exchange(conn, "POST", path, payload, signed(served, "POST", path, payload))
    assert created.status == 201 and json.loads(body)["id"]
    assert served.stats().connections == 1
    conn.close()


def test_it_reads_a_chunked_body_and_keeps_the_connection(served):
    conn = connect(served)
    conn.request(
        "POST",
        "/_emulator/faults",
        body=iter([b'{"latency_ms"', b": 1}"]),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["latency_ms"] == 1
    assert exchange(conn, "GET", "/_emulator/health")[0].status == 200
    assert served.stats().connections == 1
    conn.close()


def test_it_closes_when_the_client_sends_connection_close(served):
    received = raw_exchange(
        served, b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in received
    assert received.endswith(b'{"status":"ok"}')  # then end of stream: the socket was closed
    assert served.stats().requests == 1


def test_an_http_1_0_client_gets_its_answer_and_a_closed_connection(served):
    received = raw_exchange(served, b"GET /_emulator/health HTTP/1.0\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in received
    assert received.endswith(b'{"status":"ok"}')


@pytest.mark.parametrize("drop_when", ["before", "after"])
def test_a_drop_cuts_a_kept_alive_connection_instead_of_hanging(served, drop_when):
    conn = connect(served)
    assert exchange(conn, "GET", "/_emulator/health")[0].status == 200
    served.emulator.set_faults(drop_rate=1.0, drop_when=drop_when)
    path = f"/rooms?api-version={ROOMS_VERSION}"
    # A hang would end in the socket's timeout (TimeoutError), which is not a cut.
    with pytest.raises(CUT):
        exchange(conn, "POST", path, b"{}", signed(served, "POST", path, b"{}"))
    conn.close()
    served.emulator.clear_faults()
    fresh = connect(served)
    listed, body = exchange(fresh, "GET", path, headers=signed(served, "GET", path))
    assert listed.status == 200
    assert len(json.loads(body)["value"]) == (1 if drop_when == "after" else 0)
    fresh.close()


def test_the_rooms_sdk_reuses_one_tls_connection(https_server):
    with rooms_sdk(https_server) as client:
        room = client.create_room()
        for _ in range(9):
            client.create_room()
        for _ in range(10):
            assert client.get_room(room.id).id == room.id
    stats = https_server.stats()
    assert stats.requests == 20
    assert stats.tls_handshakes <= 2


def test_the_async_rooms_sdk_reuses_its_tls_connection_given_one_ssl_context(https_server):
    # azure-core's aiohttp transport turns a CA path into a new SSLContext for every request,
    # and aiohttp pools by context; one context on the session's connector lets it reuse.
    ssl_context = ssl.create_default_context(cafile=https_server.ca_bundle)

    async def scenario():
        connector = aiohttp.TCPConnector(ssl=ssl_context)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            AsyncRoomsClient(
                https_server.url.rstrip("/"),
                AzureKeyCredential(https_server.emulator.access_key),
                transport=AioHttpTransport(session=session, session_owner=False),
                retry_total=0,
            ) as client,
        ):
            for _ in range(10):
                await client.create_room()

    asyncio.run(scenario())
    assert https_server.stats().requests == 10
    assert https_server.stats().tls_handshakes == 1


def test_the_rooms_sdk_reconnects_after_a_drop_and_never_resends(served):
    with rooms_sdk(served) as client:
        client.create_room()
        served.emulator.set_faults(drop_rate=1.0, drop_when="after")
        with pytest.raises(ServiceResponseError):
            client.create_room()
        served.emulator.clear_faults()
        assert len(list(client.list_rooms())) == 2  # the dropped create was applied once
    assert served.stats().connections == 2


def test_an_idle_kept_alive_connection_does_not_block_another_client(served):
    idle = connect(served)
    assert exchange(idle, "GET", "/_emulator/health")[0].status == 200
    other = connect(served)
    assert exchange(other, "GET", "/_emulator/health")[0].status == 200
    assert exchange(idle, "GET", "/_emulator/health")[0].status == 200
    assert served.stats().connections == 2
    idle.close()
    other.close()


def test_a_client_that_never_finishes_the_tls_handshake_does_not_block_others(https_server):
    with socket.create_connection(("127.0.0.1", https_server.port)):
        conn = connect(https_server)  # the silent socket above is still open
        assert exchange(conn, "GET", "/_emulator/health")[0].status == 200
        conn.close()


def test_it_serves_slow_requests_from_several_clients_at_once(served, monkeypatch):
    # Each request waits inside the emulator until all six are there: served one at a time,
    # the first would wait alone until the barrier breaks, and its answer would be a 500.
    arrived = threading.Barrier(6, timeout=HANG_GUARD_S)
    monkeypatch.setattr(Faults, "sleep", staticmethod(lambda config: arrived.wait()))
    served.emulator.set_faults(latency_ms=1)
    path = f"/rooms?api-version={ROOMS_VERSION}"
    statuses = []

    def one_call():
        conn = connect(served)
        statuses.append(exchange(conn, "GET", path, headers=signed(served, "GET", path))[0].status)
        conn.close()

    threads = [threading.Thread(target=one_call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_GUARD_S + 5)
    assert not arrived.broken
    assert statuses == [200] * 6


def test_stop_closes_the_kept_alive_connections(served):
    conn = connect(served)
    assert exchange(conn, "GET", "/_emulator/health")[0].status == 200
    served.stop()
    with pytest.raises((*CUT, ssl.SSLError, ConnectionError)):  # not TimeoutError
        exchange(conn, "GET", "/_emulator/health")


def test_without_keep_alive_every_answer_closes_its_connection():
    handle = start_server(keep_alive=False)
    try:
        conn = connect(handle)
        for _ in range(3):
            response, _ = exchange(conn, "GET", "/_emulator/health")
            assert response.status == 200 and response.getheader("Connection") == "close"
        assert handle.stats().connections == 3
    finally:
        handle.stop()


def test_it_answers_pipelined_requests_in_order(served):
    received = raw_exchange(
        served,
        b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /_emulator/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert received.index(b'{"status":"ok"}') < received.index(b'"drop_rate"')
    assert served.stats().connections == 1


class Careless:
    """A WSGI app that never reads the request body, or fails when asked to."""

    def connection_string(self, endpoint):
        return f"endpoint={endpoint};accesskey=a2V5"

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("a bug in the app")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fine"]


@pytest.fixture
def careless():
    handle = start_server(emulator=Careless())
    yield handle
    handle.stop()


def test_it_skips_a_body_the_app_left_unread(careless):
    conn = connect(careless)
    response, body = exchange(conn, "POST", "/", b"x" * 5000)
    assert (response.status, body, response.will_close) == (200, b"fine", False)
    response, body = exchange(conn, "GET", "/")
    assert (response.status, body) == (200, b"fine")
    assert careless.stats().connections == 1
    conn.close()


def test_it_closes_rather_than_reads_a_large_unread_body(careless):
    conn = connect(careless)
    size = MAX_DRAIN_BYTES + 1
    conn.putrequest("POST", "/")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    response = conn.getresponse()  # answered before the body was sent
    assert (response.status, response.read()) == (200, b"fine")
    assert response.getheader("Connection") == "close"
    conn.close()


def test_an_app_error_is_a_500_that_closes_the_connection(careless):
    conn = connect(careless)
    response, body = exchange(conn, "GET", "/fail")
    assert (response.status, body) == (500, b"Internal Server Error")
    assert response.getheader("Connection") == "close"
    conn.close()
