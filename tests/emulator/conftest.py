"""Fixtures for the emulator tests: a movable clock, an HMAC-signing test client, a live server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json as jsonlib
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.test import Client

from acs_emulator import Emulator, start_server

ROOMS_VERSION = "2025-03-13"
IDENTITY_VERSION = "2023-10-01"
ACS_USER = "8:acs:db75ed0c-e801-41a3-99a4-66a0a119a06c_00000010-ce28-064a-83fe-0848220006"


def acs_user(n: int) -> str:
    return f"{ACS_USER}{n:02d}" if n < 100 else f"{ACS_USER}{n}"


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime.now(UTC).replace(microsecond=123456)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs) -> None:
        self.current += timedelta(**kwargs)


def rfc1123(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def hmac_headers(
    key: str,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    host: str = "localhost",
    date: datetime | None = None,
    signed_path: str | None = None,
) -> dict[str, str]:
    """The headers an ACS SDK adds: x-ms-date, x-ms-content-sha256 and the HMAC Authorization."""
    date_text = rfc1123(date or datetime.now(UTC))
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    to_sign = f"{method}\n{signed_path or path_and_query}\n{date_text};{host};{content_hash}"
    signature = base64.b64encode(
        hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    return {
        "x-ms-date": date_text,
        "x-ms-content-sha256": content_hash,
        "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
        f"&Signature={signature}",
    }


class Api:
    """Calls the emulator in process through werkzeug's test client, signing like the SDKs."""

    def __init__(self, emu: Emulator, clock: FakeClock):
        self.emu = emu
        self.clock = clock
        self.client = Client(emu)

    def call(
        self,
        method: str,
        path: str,
        json=None,
        body: bytes | None = None,
        headers: dict | None = None,
        version: str | None = ROOMS_VERSION,
        sign: bool = True,
        key: str | None = None,
        content_type: str = "application/json",
    ):
        if body is None:
            body = b"" if json is None else jsonlib.dumps(json).encode()
        if version is not None:
            path += ("&" if "?" in path else "?") + f"api-version={version}"
        all_headers = {}
        if sign:
            all_headers.update(
                hmac_headers(key or self.emu.access_key, method, path, body, date=self.clock())
            )
        all_headers.update(headers or {})
        return self.client.open(
            path,
            method=method,
            data=body,
            headers=all_headers,
            content_type=content_type if body else None,
        )

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        kw.setdefault("content_type", "application/merge-patch+json")
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def create_room(self, **fields):
        response = self.post("/rooms", json=fields)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    def iso(self, **delta) -> str:
        return (self.clock() + timedelta(**delta)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock):
    emulator = Emulator(clock=clock)
    yield emulator
    emulator.close()


@pytest.fixture
def api(emu, clock) -> Api:
    return Api(emu, clock)


@pytest.fixture(scope="session")
def emulator_server():
    handle = start_server()
    yield handle
    handle.stop()


@pytest.fixture
def server(emulator_server):
    """The shared socket server, emptied and without faults for each test."""
    emulator_server.emulator.reset()
    yield emulator_server
    emulator_server.emulator.reset()


@pytest.fixture
def endpoint(server) -> str:
    # No trailing slash: the Python SDKs would otherwise sign "host/" and be denied.
    return server.url.rstrip("/")
