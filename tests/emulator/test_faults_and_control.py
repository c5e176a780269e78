"""Injected faults and the /_emulator/ control API."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from acs_emulator import DropConnection

from .conftest import rfc1123


def _control(api, method, path, body=None):
    data = b"" if body is None else json.dumps(body).encode()
    return api.client.open(path, method=method, data=data, content_type="application/json")


def test_it_adds_the_configured_latency(api):
    api.emu.set_faults(latency_ms=150)
    started = time.perf_counter()
    assert api.get("/rooms").status_code == 200
    assert time.perf_counter() - started >= 0.15


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [
        (500, "InternalServerError", False),
        (503, "ServiceUnavailable", True),
        (429, "TooManyRequests", True),
    ],
)
def test_it_fails_every_request_at_error_rate_one(api, status, code, retry_after):
    api.emu.set_faults(error_rates={status: 1.0})
    response = api.post("/rooms", json={})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert ("Retry-After" in response.headers) is retry_after
    api.emu.clear_faults()
    assert api.get("/rooms").get_json()["value"] == []
    assert api.emu.requests()["requests"][0]["fault"] == "error"


def test_it_throttles_beyond_the_configured_rate(api):
    api.emu.set_faults(throttle_rps=3)
    statuses = [api.get("/rooms").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    response = api.get("/rooms")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["error"]["code"] == "TooManyRequests"


def test_it_drops_before_applying_the_request(api):
    api.emu.set_faults(drop_rate=1.0, drop_when="before")
    with pytest.raises(DropConnection) as raised:
        api.post("/rooms", json={})
    assert raised.value.applied is False
    api.emu.clear_faults()
    assert api.get("/rooms").get_json()["value"] == []


def test_it_drops_after_applying_and_a_repeated_create_finds_the_same_room(api, clock):
    headers = {
        "Repeatability-Request-ID": str(uuid.uuid4()),
        "Repeatability-First-Sent": rfc1123(clock()),
    }
    api.emu.set_faults(drop_rate=1.0, drop_when="after")
    with pytest.raises(DropConnection) as raised:
        api.post("/rooms", json={}, headers=headers)
    assert raised.value.applied is True
    api.emu.clear_faults()
    rooms = api.get("/rooms").get_json()["value"]
    assert len(rooms) == 1
    retry = api.post("/rooms", json={}, headers=headers)
    assert retry.get_json()["id"] == rooms[0]["id"]
    assert len(api.get("/rooms").get_json()["value"]) == 1


def test_it_repeats_the_same_fault_sequence_for_the_same_seed(api):
    def run():
        api.emu.set_faults(error_rates={500: 0.5}, seed=42)
        return [api.get("/rooms").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert set(first) == {200, 500}


def test_it_logs_requests_with_operation_status_and_timing(api):
    room = api.create_room()
    api.get(f"/rooms/{room['id']}")
    api.get("/rooms/123")
    log = api.emu.requests()
    assert log["counts"] == {"Rooms_Create": 1, "Rooms_Get": 2}
    entry = log["requests"][-1]
    assert entry["method"] == "GET"
    assert entry["path"] == "/rooms/123"
    assert entry["status"] == 400
    assert entry["duration_ms"] >= 0
    assert entry["time"].endswith("+00:00")


def test_the_control_api_sets_and_clears_faults(api):
    response = _control(api, "POST", "/_emulator/faults", {"error_rates": {"503": 1.0}})
    assert response.status_code == 200
    assert response.get_json()["error_rates"] == {"503": 1.0}
    assert api.get("/rooms").status_code == 503
    assert _control(api, "POST", "/_emulator/faults", {}).status_code == 200
    assert api.get("/rooms").status_code == 200


def test_the_control_api_rejects_nonsense_faults(api):
    response = _control(api, "POST", "/_emulator/faults", {"drop_when": "sometimes"})
    assert response.status_code == 400
    assert _control(api, "POST", "/_emulator/faults", {"bogus": 1}).status_code == 400


def test_the_control_api_reports_requests_and_resets_everything(api):
    api.create_room()
    log = _control(api, "GET", "/_emulator/requests").get_json()
    assert log["counts"] == {"Rooms_Create": 1}
    assert _control(api, "POST", "/_emulator/reset").status_code == 200
    assert _control(api, "GET", "/_emulator/requests").get_json() == {"requests": [], "counts": {}}
    assert api.get("/rooms").get_json()["value"] == []


def test_the_control_api_reports_token_status_and_health(api):
    body = api.post(
        "/identities", json={"createTokenWithScopes": ["chat"]}, version="2023-10-01"
    ).get_json()
    token = body["accessToken"]["token"]
    status = _control(api, "GET", f"/_emulator/tokens/{token}").get_json()
    assert status["valid"] is True
    assert status["identity"] == body["identity"]["id"]
    assert _control(api, "GET", "/_emulator/health").get_json() == {"status": "ok"}
    assert _control(api, "GET", "/_emulator/nothing").status_code == 404


def test_reset_also_clears_faults(api):
    api.emu.set_faults(error_rates={500: 1.0})
    api.emu.reset()
    assert api.get("/rooms").status_code == 200


def test_a_browsers_favicon_request_gets_no_icon_and_no_401():
    """The sign-in and inbox pages are opened in browsers, which ask for /favicon.ico unsigned."""
    from acs_emulator import Emulator

    emulator = Emulator()
    status: list[str] = []
    body = emulator(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/favicon.ico",
            "QUERY_STRING": "",
            "wsgi.input": None,
        },
        lambda s, headers: status.append(s),
    )
    assert status[0].startswith("204")
    assert b"".join(body) == b""
