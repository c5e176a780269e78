"""Repeatable room creation (Repeatability-Request-ID / Repeatability-First-Sent)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from acs_emulator import Emulator

from .conftest import Api, FakeClock, rfc1123


def _headers(clock, request_id=None, first_sent=None):
    return {
        "Repeatability-Request-ID": request_id or str(uuid.uuid4()),
        "Repeatability-First-Sent": first_sent or rfc1123(clock()),
    }


def _room_count(api) -> int:
    return len(api.get("/rooms").get_json()["value"])


def test_it_accepts_a_new_request_id_and_says_so(api, clock):
    response = api.post("/rooms", json={}, headers=_headers(clock))
    assert response.status_code == 201
    assert response.headers["Repeatability-Result"] == "accepted"


def test_it_returns_the_first_room_when_a_request_is_repeated(api, clock):
    headers = _headers(clock)
    first = api.post("/rooms", json={"pstnDialOutEnabled": True}, headers=headers)
    clock.advance(minutes=2)
    again = api.post("/rooms", json={"pstnDialOutEnabled": True}, headers=headers)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Repeatability-Result"] == "accepted"
    assert _room_count(api) == 1


def test_it_rejects_a_repeated_id_with_a_different_body(api, clock):
    headers = _headers(clock)
    api.post("/rooms", json={}, headers=headers)
    response = api.post("/rooms", json={"pstnDialOutEnabled": True}, headers=headers)
    assert response.status_code == 400
    assert response.headers["Repeatability-Result"] == "rejected"
    assert response.get_json()["error"]["code"] == "BadRequest"
    assert response.headers["x-ms-error-code"] == "BadRequest"
    assert _room_count(api) == 1


def test_it_answers_412_when_first_sent_is_older_than_five_minutes(api, clock):
    stale = rfc1123(clock() - timedelta(minutes=6))
    response = api.post("/rooms", json={}, headers=_headers(clock, first_sent=stale))
    assert response.status_code == 412
    assert response.headers["Repeatability-Result"] == "rejected"
    assert _room_count(api) == 0


def test_it_answers_400_for_a_malformed_request_id_or_date(api, clock):
    bad_id = api.post("/rooms", json={}, headers=_headers(clock, request_id="not a uuid"))
    assert bad_id.status_code == 400
    assert bad_id.headers["Repeatability-Result"] == "rejected"
    bad_date = api.post("/rooms", json={}, headers=_headers(clock, first_sent="yesterday"))
    assert bad_date.status_code == 400
    assert bad_date.headers["Repeatability-Result"] == "rejected"
    assert _room_count(api) == 0


def test_it_forgets_a_request_id_after_the_window(api, clock):
    request_id = str(uuid.uuid4())
    api.post("/rooms", json={}, headers=_headers(clock, request_id=request_id))
    clock.advance(minutes=6)
    response = api.post("/rooms", json={}, headers=_headers(clock, request_id=request_id))
    assert response.status_code == 201
    assert _room_count(api) == 2


def test_it_creates_without_the_headers_and_without_a_repeatability_result(api):
    response = api.post("/rooms", json={})
    assert response.status_code == 201
    assert "Repeatability-Result" not in response.headers


def test_it_never_makes_two_rooms_for_one_request_id_across_processes(tmp_path):
    clock = FakeClock()
    path = str(tmp_path / "state.sqlite3")
    first = Emulator(access_key=None, state_path=path, clock=clock)
    second = Emulator(access_key=first.access_key, state_path=path, clock=clock)
    apis = [Api(first, clock), Api(second, clock)]
    headers = _headers(clock)
    results = []

    def create(which):
        results.append(apis[which].post("/rooms", json={}, headers=headers).get_json()["id"])

    threads = [threading.Thread(target=create, args=(n % 2,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert _room_count(apis[0]) == 1
    first.close()
    second.close()
