"""Repeatable identity creation: Identity create honours Repeatability-Request-ID and
Repeatability-First-Sent as Rooms create does, and still creates without them."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from acs_emulator import Emulator
from tests.emulator.openapi_validator import specs
from tests.emulator.sdk_harness import reach

from .conftest import IDENTITY_VERSION, Api, FakeClock, rfc1123

URL = f"https://acs.example/identities?api-version={IDENTITY_VERSION}"


def _headers(clock, request_id=None, first_sent=None):
    return {
        "Repeatability-Request-ID": request_id or str(uuid.uuid4()),
        "Repeatability-First-Sent": first_sent or rfc1123(clock()),
    }


def _create(api, body=None, headers=None):
    response = api.post("/identities", json=body, headers=headers, version=IDENTITY_VERSION)
    # Every answer, replays and rejections included, is what the spec declares.
    specs().validate(
        "POST", URL, response.status_code, response.get_data(), response.headers["Content-Type"]
    )
    return response


def _identity_count(emu) -> int:
    with emu.store.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0]


def _assert_rejected(response, status, code):
    assert response.status_code == status
    assert response.headers["Repeatability-Result"] == "rejected"
    assert response.get_json()["error"]["code"] == code
    # Identity errors carry no x-ms-error-code (recordings), and these are no exception.
    assert "x-ms-error-code" not in response.headers


def test_it_accepts_a_new_request_id_and_says_so(api, clock):
    response = _create(api, headers=_headers(clock))

    assert response.status_code == 201
    assert response.headers["Repeatability-Result"] == "accepted"
    assert _identity_count(api.emu) == 1


def test_it_answers_a_repeat_with_the_first_identity_and_makes_no_second_user(api, clock):
    headers = _headers(clock)
    first = _create(api, headers=headers)
    clock.advance(minutes=4, seconds=59)

    again = _create(api, headers=headers)

    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Repeatability-Result"] == "accepted"
    assert _identity_count(api.emu) == 1


def test_a_repeat_with_a_token_gets_the_first_token_again(api, clock):
    headers = _headers(clock)
    body = {"createTokenWithScopes": ["chat"], "expiresInMinutes": 60}
    first = _create(api, body, headers).get_json()
    clock.advance(minutes=1)

    again = _create(api, body, headers).get_json()

    assert again == first
    assert api.emu.token_status(again["accessToken"]["token"])["valid"] is True
    assert _identity_count(api.emu) == 1


def test_it_rejects_a_repeated_id_with_a_different_body(api, clock):
    headers = _headers(clock)
    _create(api, headers=headers)

    response = _create(api, {"createTokenWithScopes": ["voip"]}, headers)

    _assert_rejected(response, 400, "BadRequest")
    assert _identity_count(api.emu) == 1


def test_it_answers_412_when_first_sent_is_older_than_five_minutes(api, clock):
    stale = rfc1123(clock() - timedelta(minutes=5, seconds=1))

    response = _create(api, headers=_headers(clock, first_sent=stale))

    _assert_rejected(response, 412, "PreconditionFailed")
    assert _identity_count(api.emu) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Repeatability-Request-ID": "not a uuid", "Repeatability-First-Sent": "now"},
        {"Repeatability-Request-ID": str(uuid.uuid4()), "Repeatability-First-Sent": "yesterday"},
        {"Repeatability-Request-ID": str(uuid.uuid4())},
        {"Repeatability-First-Sent": "Tue, 19 Nov 2024 10:00:00 GMT"},
    ],
    ids=["bad-id", "bad-date", "no-first-sent", "no-request-id"],
)
def test_it_answers_400_for_a_malformed_or_half_pair_of_headers(api, headers):
    response = _create(api, headers=headers)

    _assert_rejected(response, 400, "BadRequest")
    assert _identity_count(api.emu) == 0


def test_it_creates_without_the_headers_and_without_a_repeatability_result(api):
    one = _create(api)
    two = _create(api)

    assert one.status_code == two.status_code == 201
    assert "Repeatability-Result" not in one.headers
    assert one.get_json() != two.get_json()
    assert _identity_count(api.emu) == 2


def test_it_forgets_a_request_id_after_the_window(api, clock):
    request_id = str(uuid.uuid4())
    first = _create(api, headers=_headers(clock, request_id=request_id))
    clock.advance(minutes=6)

    again = _create(api, headers=_headers(clock, request_id=request_id))

    assert again.status_code == 201
    assert again.get_json() != first.get_json()
    assert _identity_count(api.emu) == 2


def test_it_remembers_only_a_successful_create(api, clock):
    headers = _headers(clock)
    refused = _create(api, {"createTokenWithScopes": ["chat"], "expiresInMinutes": 59}, headers)

    created = _create(api, {}, headers)

    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "ValidationError"
    assert created.status_code == 201
    assert created.headers["Repeatability-Result"] == "accepted"


def test_rooms_and_identity_keep_their_request_ids_apart(api, clock):
    headers = _headers(clock)
    room = api.post("/rooms", json={}, headers=headers)

    identity = _create(api, headers=headers)

    assert room.status_code == identity.status_code == 201
    assert identity.headers["Repeatability-Result"] == "accepted"


def test_it_never_makes_two_identities_for_one_request_id_across_processes(tmp_path):
    clock = FakeClock()
    path = str(tmp_path / "state.sqlite3")
    first = Emulator(access_key=None, state_path=path, clock=clock)
    second = Emulator(access_key=first.access_key, state_path=path, clock=clock)
    apis = [Api(first, clock), Api(second, clock)]
    headers = _headers(clock)
    results = []

    def create(which):
        response = apis[which].post(
            "/identities", json=None, headers=headers, version=IDENTITY_VERSION
        )
        results.append(response.get_json()["identity"]["id"])

    threads = [threading.Thread(target=create, args=(n % 2,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert _identity_count(first) == 1
    first.close()
    second.close()


# --- through azure-communication-identity: create_user(headers=...) -----------------------------
@pytest.mark.parametrize("wire", ["in-process", "http"])
def test_the_identity_sdk_forwards_the_headers_and_gets_the_first_user_back(wire):
    """The Identity SDK sends no repeatability headers itself; `headers=` on create_user goes
    through its generated operation (which merges `headers` into the request) to the wire."""
    seen = []
    headers = {
        "Repeatability-Request-ID": str(uuid.uuid4()),
        "Repeatability-First-Sent": rfc1123(datetime.now(UTC) - timedelta(minutes=1)),
    }

    def hook(response):
        seen.append(
            (
                response.http_request.headers.get("Repeatability-Request-ID"),
                response.http_response.headers.get("Repeatability-Result"),
            )
        )

    with reach(wire) as target:
        client = target.identity()
        first = client.create_user(headers=headers, raw_response_hook=hook)
        again = client.create_user(headers=headers, raw_response_hook=hook)
        other = client.create_user()

        assert again.raw_id == first.raw_id
        assert other.raw_id != first.raw_id
        assert _identity_count(target.emulator) == 2
        assert target.emulator.requests()["counts"]["Identity_Create"] == 3
        request_id = headers["Repeatability-Request-ID"]
        assert seen == [(request_id, "accepted"), (request_id, "accepted")]
        target.coverage.assert_clean()


def test_the_identity_sdk_sees_a_stale_first_sent_as_412():
    headers = {
        "Repeatability-Request-ID": str(uuid.uuid4()),
        "Repeatability-First-Sent": rfc1123(datetime.now(UTC) - timedelta(minutes=10)),
    }

    with reach("in-process") as target:
        with pytest.raises(HttpResponseError) as caught:
            target.identity().create_user(headers=headers)

        assert caught.value.status_code == 412
        assert json.loads(caught.value.response.text())["error"]["code"] == "PreconditionFailed"
        assert _identity_count(target.emulator) == 0
