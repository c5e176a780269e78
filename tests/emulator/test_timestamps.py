"""Timestamps exactly as ACS writes them: .NET's `yyyy-MM-ddTHH:mm:ss.FFFFFFFzzz`.

Up to seven fractional digits with the trailing zeros dropped, and no fraction on a whole second.
ACS's own Python samples read them with `datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")`,
which takes at most six digits, so a time a client sent with microseconds must come back with
exactly those microseconds; seven-digit ticks a client sent come back as sent.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from acs_emulator.timeutil import format_ticks, parse_rfc3339
from tests.emulator.sdk_harness import reach

from .conftest import IDENTITY_VERSION

ACS_SAMPLE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
# FFFFFFF: one to seven digits, the last one not zero; none at all on a whole second.
ACS_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?\+00:00$")
ROOM_TIMES = ("createdAt", "validFrom", "validUntil")
VERSIONS = ("2025-03-13", "2024-04-15")
# Microseconds a client may send; as six digits most of them end in zeros.
MICROSECONDS = (500000, 120000, 123000, 123400, 123450, 123456, 100, 1, 999999)


def strptime(value: str) -> datetime:
    """What ACS's Python samples do with a timestamp."""
    return datetime.strptime(value, ACS_SAMPLE_FORMAT)


def room_times(body: dict) -> list[str]:
    rooms = body.get("value", [body])
    assert rooms
    return [room[field] for room in rooms for field in ROOM_TIMES]


def room_responses(api, version: str, room_id: str, patch: dict):
    """Every Rooms response that carries the room's times: get, update, list."""
    yield api.get(f"/rooms/{room_id}", version=version)
    yield api.patch(f"/rooms/{room_id}", json=patch, version=version)
    yield api.get(f"/rooms/{room_id}", version=version)
    yield api.get("/rooms", version=version)


# --- the format itself -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "recorded",
    [
        "2025-02-19T07:30:01.581399+00:00",
        "2025-02-19T07:29:55.0121419+00:00",
        "2025-02-19T07:30:08.122854+00:00",
        "2025-02-19T07:30:08+00:00",
        "2023-06-30T00:00:00+00:00",
        "2023-06-26T05:46:17.8159131+00:00",
        "2025-02-19T07:29:46.30064+00:00",
        "2025-02-19T07:29:46.1+00:00",
    ],
)
def test_it_writes_recorded_service_times_back_exactly(recorded):
    assert format_ticks(parse_rfc3339(recorded)) == recorded
    assert ACS_FORMAT.match(recorded)


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("2030-01-02T03:04:05Z", "2030-01-02T03:04:05+00:00"),
        ("2030-01-02T03:04:05.0000000Z", "2030-01-02T03:04:05+00:00"),
        ("2030-01-02T03:04:05.000000+00:00", "2030-01-02T03:04:05+00:00"),
        ("2030-01-02T03:04:05.5000000Z", "2030-01-02T03:04:05.5+00:00"),
        ("2030-01-02T03:04:05.120Z", "2030-01-02T03:04:05.12+00:00"),
        ("2030-01-02T03:04:05.000001Z", "2030-01-02T03:04:05.000001+00:00"),
        ("2030-01-02T03:04:05.0000001Z", "2030-01-02T03:04:05.0000001+00:00"),
        ("2030-01-02T03:04:05.2571369Z", "2030-01-02T03:04:05.2571369+00:00"),
        ("2030-01-02T05:04:05.25+02:00", "2030-01-02T03:04:05.25+00:00"),
    ],
)
def test_it_drops_trailing_zeros_and_keeps_the_sent_tick(sent, written):
    assert format_ticks(parse_rfc3339(sent)) == written


# --- Rooms: every timestamp of every response ---------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("micro", MICROSECONDS)
@pytest.mark.parametrize("offset", ["Z", "+00:00", "+05:30"])
def test_a_client_reads_every_room_time_with_the_samples_strptime(
    api, clock, version, micro, offset
):
    tz = timezone(timedelta(hours=5, minutes=30)) if offset == "+05:30" else UTC
    start = (clock() + timedelta(hours=1)).replace(microsecond=micro).astimezone(tz)
    until = (start + timedelta(days=3)).replace(microsecond=micro * 7 % 1_000_000)
    later = until + timedelta(days=1)

    def sent(value: datetime) -> str:
        text = value.isoformat()
        return text.replace("+00:00", "Z") if offset == "Z" else text

    created = api.post(
        "/rooms", json={"validFrom": sent(start), "validUntil": sent(until)}, version=version
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    room = created.get_json()
    responses = [created, *room_responses(api, version, room["id"], {"validUntil": sent(later)})]

    for response in responses:
        assert response.status_code == 200 or response is created
        for value in room_times(response.get_json()):
            assert ACS_FORMAT.match(value), value
            strptime(value)  # raises on seven digits or on a missing fraction
    first, *_, last = (r.get_json() for r in responses)
    assert strptime(first["validFrom"]) == start
    assert strptime(first["validUntil"]) == until
    assert strptime(first["createdAt"]) == clock()
    listed = next(r for r in last["value"] if r["id"] == room["id"])
    assert strptime(listed["validFrom"]) == start
    assert strptime(listed["validUntil"]) == later


@pytest.mark.parametrize("version", VERSIONS)
def test_a_whole_second_has_no_fraction_at_all(api, version):
    api.clock.current = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = api.post(
        "/rooms",
        json={"validFrom": "2030-01-02T04:00:00Z", "validUntil": "2030-01-03T04:00:00.000000Z"},
        version=version,
    )
    assert created.status_code == 201
    room = created.get_json()
    responses = [created, *room_responses(api, version, room["id"], {})]

    for response in responses:
        for value in room_times(response.get_json()):
            assert ACS_FORMAT.match(value), value
            assert "." not in value
    assert room["createdAt"] == "2030-01-02T03:04:05+00:00"
    assert room["validFrom"] == "2030-01-02T04:00:00+00:00"
    assert room["validUntil"] == "2030-01-03T04:00:00+00:00"


@pytest.mark.parametrize("version", VERSIONS)
def test_seven_digit_ticks_a_client_sent_come_back_as_sent(api, clock, version):
    day = (clock() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    room = api.post(
        "/rooms",
        json={"validFrom": f"{day}.2571369Z", "validUntil": f"{day}.9999999+00:00"},
        version=version,
    ).get_json()
    fetched = api.get(f"/rooms/{room['id']}", version=version).get_json()

    assert fetched["validFrom"] == f"{day}.2571369+00:00"
    assert fetched["validUntil"] == f"{day}.9999999+00:00"


@pytest.mark.parametrize("version", VERSIONS)
def test_defaulted_times_follow_the_same_rule(api, clock, version):
    room = api.post("/rooms", json={}, version=version).get_json()

    for value in room_times(room):
        assert ACS_FORMAT.match(value), value
        assert strptime(value) in (clock(), clock() + timedelta(days=180))


# --- Identity expiresOn ---------------------------------------------------------------------------
def _identity_post(api, path, body):
    return api.post(path, json=body, version=IDENTITY_VERSION)


def _exp(token: str) -> int:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]


@pytest.mark.parametrize("minutes", [60, 61, 1440])
def test_expires_on_reads_with_the_samples_strptime_and_matches_exp(api, clock, minutes):
    created = _identity_post(
        api, "/identities", {"createTokenWithScopes": ["chat"], "expiresInMinutes": minutes}
    ).get_json()
    identity = created["identity"]["id"]
    issued = _identity_post(
        api,
        f"/identities/{quote(identity, safe='')}/:issueAccessToken",
        {"scopes": ["voip"], "expiresInMinutes": minutes},
    ).get_json()

    for token in (created["accessToken"], issued):
        assert ACS_FORMAT.match(token["expiresOn"]), token["expiresOn"]
        expires = strptime(token["expiresOn"])
        assert expires == clock() + timedelta(minutes=minutes)
        assert int(expires.timestamp()) == _exp(token["token"])


def test_expires_on_at_a_whole_second_has_no_fraction(api):
    api.clock.current = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = _identity_post(api, "/identities", {"createTokenWithScopes": ["chat"]}).get_json()

    assert created["accessToken"]["expiresOn"] == "2030-01-03T03:04:05+00:00"
    assert api.emu.token_status(created["accessToken"]["token"])["expiresOn"] == (
        "2030-01-03T03:04:05+00:00"
    )


# --- through the SDK: it hands the strings over unparsed ----------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_the_rooms_sdk_hands_over_times_the_samples_can_parse(version):
    start = datetime.now(UTC).replace(microsecond=120000) + timedelta(hours=1)
    until = start + timedelta(days=1, microseconds=340000)
    with reach("in-process") as target:
        rooms = target.rooms(api_version=version)
        room = rooms.create_room(valid_from=start, valid_until=until)
        fetched = rooms.get_room(room.id)
        listed = [r for r in rooms.list_rooms() if r.id == room.id]
        for each in (room, fetched, *listed):
            for value in (each.created_at, each.valid_from, each.valid_until):
                assert isinstance(value, str) and ACS_FORMAT.match(value), value
                strptime(value)
            assert strptime(each.valid_from) == start
            assert strptime(each.valid_until) == until
        target.coverage.assert_clean()
