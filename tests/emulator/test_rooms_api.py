"""Rooms API behaviour over WSGI: bodies, headers, defaults, validation and paging."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import acs_user

# .NET's yyyy-MM-ddTHH:mm:ss.FFFFFFFzzz: up to 7 digits, no trailing zero, none on a whole second.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?\+00:00$")
MALFORMED = "The request could not be understood by the server due to malformed syntax."


def model_error(message, target):
    return {
        "error": {
            "code": "BadRequest",
            "message": MALFORMED,
            "details": [{"code": "BadArgument", "message": message, "target": target}],
        }
    }


NOT_FOUND = {
    "error": {"code": "NotFound", "message": "The server cannot find the requested resource."}
}


def test_it_creates_a_room_with_the_documented_defaults(api):
    response = api.post("/rooms", json={"validFrom": None, "validUntil": None})
    assert response.status_code == 201
    room = response.get_json()
    assert set(room) == {"id", "createdAt", "validFrom", "validUntil", "pstnDialOutEnabled"}
    assert re.fullmatch(r"\d{16,17}", room["id"])
    assert room["pstnDialOutEnabled"] is False
    for field in ("createdAt", "validFrom", "validUntil"):
        assert TIMESTAMP.match(room[field]), room[field]
    now = api.clock().strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"
    assert room["validFrom"] == now
    assert room["createdAt"] == now
    until = (api.clock() + timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert room["validUntil"] == until + "+00:00"


def test_it_answers_create_with_location_and_service_headers(api):
    response = api.post("/rooms", json={}, headers={"x-ms-client-request-id": "abc-123"})
    room = response.get_json()
    assert response.headers["Location"] == room["id"]
    assert response.headers["api-supported-versions"] == "2024-04-15, 2025-03-13"
    assert response.headers["MS-CV"]
    assert response.headers["x-ms-client-request-id"] == "abc-123"
    assert response.headers["Content-Type"].startswith("application/json")


def test_it_keeps_seven_digit_precision_and_normalises_offsets_to_utc(api, clock):
    start = (clock() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:00:00")
    room = api.create_room(validFrom=start + ".1234567+02:00")
    expected = datetime.fromisoformat(start + "+02:00").astimezone(UTC)
    assert room["validFrom"] == expected.strftime("%Y-%m-%dT%H:%M:%S") + ".1234567+00:00"


def test_it_defaults_valid_until_to_180_days_after_a_sent_valid_from(api, clock):
    sent = clock() - timedelta(seconds=1)
    room = api.create_room(validFrom=sent.isoformat())
    until = datetime.fromisoformat(room["validUntil"])
    assert until - datetime.fromisoformat(room["validFrom"]) == timedelta(days=180)


def test_it_returns_a_created_room_by_id(api):
    room = api.create_room(pstnDialOutEnabled=True)
    response = api.get(f"/rooms/{room['id']}")
    assert response.status_code == 200
    assert response.get_json() == room


def test_it_rejects_valid_until_before_valid_from(api):
    response = api.post(
        "/rooms", json={"validFrom": api.iso(days=2), "validUntil": api.iso(days=1)}
    )
    assert response.status_code == 400
    assert response.get_json() == model_error(
        "The time range is incorrect, or larger than 180 days.", "ValidUntil"
    )
    assert "x-ms-error-code" not in response.headers


def test_it_rejects_a_range_longer_than_180_days(api):
    response = api.post(
        "/rooms", json={"validFrom": api.iso(hours=1), "validUntil": api.iso(days=181)}
    )
    assert response.get_json() == model_error(
        "The time range is incorrect, or larger than 180 days.", "ValidUntil"
    )


def test_it_accepts_a_range_of_exactly_180_days(api):
    room = api.create_room(validFrom=api.iso(hours=1), validUntil=api.iso(days=180, hours=1))
    assert room["validUntil"] > room["validFrom"]


def test_it_rejects_valid_until_in_the_past(api):
    response = api.post("/rooms", json={"validUntil": api.iso(minutes=-1)})
    assert response.status_code == 400
    assert response.get_json() == model_error("The time range end is in the past.", "ValidUntil")


def test_it_reports_the_past_end_first_when_both_times_are_past_and_reversed(api):
    response = api.post(
        "/rooms", json={"validFrom": api.iso(days=-1), "validUntil": api.iso(days=-2)}
    )
    assert response.get_json() == model_error("The time range end is in the past.", "ValidUntil")


def test_it_rejects_valid_from_more_than_180_days_ahead(api):
    response = api.post("/rooms", json={"validFrom": api.iso(days=210)})
    assert response.get_json() == model_error(
        "Value is incorrect or more than 180 days in the future.", "ValidFrom"
    )


def test_it_accepts_valid_from_in_the_past(api):
    room = api.create_room(validFrom=api.iso(days=-1), validUntil=api.iso(days=1))
    assert room["validFrom"] < room["createdAt"]


def test_it_rejects_an_unreadable_timestamp(api):
    response = api.post("/rooms", json={"validFrom": "tomorrow"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["details"][0]["target"] == "$.validFrom"


def test_it_rejects_a_malformed_raw_id_on_create(api):
    response = api.post("/rooms", json={"participants": {"wrong_mri": {"role": "Attendee"}}})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {"code": "BadRequest", "message": "Invalid format for communication identifier."}
    }
    assert response.headers["x-ms-error-code"] == "BadRequest"
    assert api.get("/rooms").get_json()["value"] == []


@pytest.mark.parametrize("raw_id", ["4:+14255550123", "8:orgid:2dee53b4-368b", "28:orgid:abc"])
def test_it_rejects_identifiers_that_are_not_acs_users(api, raw_id):
    response = api.post("/rooms", json={"participants": {raw_id: {"role": "Attendee"}}})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        f"Communication identifier {raw_id} is not supported."
    )


@pytest.mark.parametrize("raw_id", ["8:acs:r_u", "8:spool:r_u", "8:dod-acs:r_u", "8:gcch-acs:r_u"])
def test_it_accepts_every_acs_user_prefix(api, raw_id):
    room = api.create_room(participants={raw_id: {"role": "Consumer"}})
    listed = api.get(f"/rooms/{room['id']}/participants").get_json()
    assert listed == {"value": [{"rawId": raw_id, "role": "Consumer"}]}


def test_it_rejects_an_unknown_role_with_the_recorded_message(api):
    user = acs_user(1)
    response = api.post("/rooms", json={"participants": {user: {"role": "Kafka"}}})
    assert response.get_json() == model_error(
        "Invalid participant role. The valid roles are: Presenter, Attendee, Consumer, "
        "Collaborator.",
        f"$.participants.{user}.role",
    )


def test_it_accepts_collaborator_only_from_2025_03_13(api):
    user = acs_user(1)
    body = {"participants": {user: {"role": "Collaborator"}}}
    old = api.post("/rooms", json=body, version="2024-04-15")
    assert old.status_code == 400
    assert old.get_json()["error"]["details"][0]["message"].startswith("Invalid participant role")
    new = api.post("/rooms", json=body, version="2025-03-13")
    assert new.status_code == 201


def test_it_defaults_a_missing_role_to_attendee(api):
    room = api.create_room(participants={acs_user(1): {}})
    listed = api.get(f"/rooms/{room['id']}/participants").get_json()["value"]
    assert listed == [{"rawId": acs_user(1), "role": "Attendee"}]


@pytest.mark.parametrize("room_id", ["invalid_id", "123", "12345678901234567890123"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_it_rejects_malformed_room_ids(api, room_id, method):
    response = api.call(method, f"/rooms/{room_id}", json={} if method == "PATCH" else None)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {"code": "BadRequest", "message": "Invalid room ID length."}
    }
    assert response.headers["x-ms-error-code"] == "BadRequest"


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_it_answers_404_for_an_unknown_room(api, method):
    response = api.call(method, "/rooms/99454291444134085", json={} if method == "PATCH" else None)
    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND
    assert response.headers["x-ms-error-code"] == "NotFound"


def test_it_deletes_idempotently(api):
    room = api.create_room()
    first = api.delete(f"/rooms/{room['id']}")
    assert first.status_code == 204
    assert first.get_data() == b""
    assert api.delete(f"/rooms/{room['id']}").status_code == 204
    assert api.get(f"/rooms/{room['id']}").status_code == 404
    assert api.patch(f"/rooms/{room['id']}", json={}).status_code == 404


def test_it_leaves_fields_unchanged_when_patched_with_null(api):
    room = api.create_room(pstnDialOutEnabled=True)
    response = api.patch(
        f"/rooms/{room['id']}",
        json={"validFrom": None, "validUntil": None, "pstnDialOutEnabled": None},
    )
    assert response.status_code == 200
    assert response.get_json() == room


def test_it_changes_only_the_fields_patched(api):
    room = api.create_room()
    until = api.iso(days=3)
    updated = api.patch(f"/rooms/{room['id']}", json={"validUntil": until}).get_json()
    assert updated["validUntil"].startswith(until[:19])
    assert updated["validFrom"] == room["validFrom"]
    assert updated["createdAt"] == room["createdAt"]
    flipped = api.patch(f"/rooms/{room['id']}", json={"pstnDialOutEnabled": True}).get_json()
    assert flipped["pstnDialOutEnabled"] is True
    assert flipped["validUntil"] == updated["validUntil"]


def test_it_applies_the_time_rules_to_the_merged_room(api):
    room = api.create_room(validFrom=api.iso(hours=1), validUntil=api.iso(days=2))
    response = api.patch(f"/rooms/{room['id']}", json={"validUntil": api.iso(days=200)})
    assert response.get_json() == model_error(
        "The time range is incorrect, or larger than 180 days.", "ValidUntil"
    )
    assert api.get(f"/rooms/{room['id']}").get_json() == room


def test_it_adds_updates_and_removes_participants_in_one_patch(api):
    room = api.create_room(participants={acs_user(1): {"role": "Presenter"}})
    path = f"/rooms/{room['id']}/participants"
    response = api.patch(
        path,
        json={
            "participants": {
                acs_user(1): {"role": "Consumer"},
                acs_user(2): {"role": "Collaborator"},
            }
        },
    )
    assert response.status_code == 200
    assert response.get_json() == {}
    assert api.get(path).get_json() == {
        "value": [
            {"rawId": acs_user(1), "role": "Consumer"},
            {"rawId": acs_user(2), "role": "Collaborator"},
        ]
    }
    api.patch(path, json={"participants": {acs_user(1): None, acs_user(9): None}})
    assert api.get(path).get_json() == {"value": [{"rawId": acs_user(2), "role": "Collaborator"}]}


def test_it_applies_nothing_when_one_participant_entry_is_bad(api):
    room = api.create_room(participants={acs_user(1): {"role": "Presenter"}})
    path = f"/rooms/{room['id']}/participants"
    before = api.get(path).get_json()
    response = api.patch(
        path,
        json={
            "participants": {
                acs_user(2): {"role": "Attendee"},
                acs_user(1): None,
                "wrong_mri": {"role": "Attendee"},
            }
        },
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "code": "BadRequest",
            "message": "Communication identifier wrong_mri is not supported.",
        }
    }
    assert response.headers["x-ms-error-code"] == "BadRequest"
    assert api.get(path).get_json() == before
    bad_role = api.patch(
        path, json={"participants": {acs_user(2): {"role": "Attendee"}, acs_user(3): {"role": "X"}}}
    )
    assert bad_role.status_code == 400
    assert api.get(path).get_json() == before


def test_it_rejects_removing_a_malformed_raw_id(api):
    room = api.create_room()
    response = api.patch(
        f"/rooms/{room['id']}/participants", json={"participants": {"wrong_mri": None}}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        "Communication identifier wrong_mri is not supported."
    )


def test_it_answers_404_for_participants_of_an_unknown_room(api):
    assert api.get("/rooms/99454291444134085/participants").get_json() == NOT_FOUND
    response = api.patch(
        "/rooms/99454291444134085/participants",
        json={"participants": {acs_user(1): {"role": "Attendee"}}},
    )
    assert response.status_code == 404


def _follow(api, path):
    """Every item of a paged list, following nextLink verbatim."""
    items, pages = [], 0
    url = path
    version = "2025-03-13"
    while True:
        response = api.call("GET", url, version=version)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        items.extend(body["value"])
        pages += 1
        if "nextLink" not in body:
            return items, pages, body
        link = urlsplit(body["nextLink"])
        assert link.scheme == "http"
        assert link.netloc == "localhost"
        assert parse_qs(link.query)["api-version"] == ["2025-03-13"]
        url, version = link.path + "?" + link.query, None


def test_it_pages_250_rooms_newest_first_each_exactly_once(api, clock):
    created = []
    for _ in range(250):
        created.append(api.create_room()["id"])
        clock.advance(milliseconds=3)
    items, pages, _ = _follow(api, "/rooms")
    assert pages >= 5
    ids = [room["id"] for room in items]
    assert ids == list(reversed(created))


def test_it_never_repeats_a_room_when_rooms_are_created_between_pages(api, clock):
    for _ in range(120):
        api.create_room()
        clock.advance(milliseconds=1)
    first = api.get("/rooms").get_json()
    clock.advance(seconds=1)
    for _ in range(10):
        api.create_room()
    link = urlsplit(first["nextLink"])
    rest, _, _ = _follow(api, link.path + "?" + link.query.replace("&api-version=2025-03-13", ""))
    ids = [room["id"] for room in first["value"] + rest]
    assert len(ids) == len(set(ids)) == 120


def test_it_uses_an_opaque_base64url_cursor_in_next_link(api):
    for _ in range(60):
        api.create_room()
    next_link = api.get("/rooms").get_json()["nextLink"]
    token = parse_qs(urlsplit(next_link).query)["nextLink"][0]
    base64.urlsafe_b64decode(token)
    assert next_link.startswith("http://localhost/rooms?nextLink=")


def test_it_pages_250_participants_each_exactly_once(api):
    room = api.create_room()
    path = f"/rooms/{room['id']}/participants"
    users = [acs_user(n) for n in range(250)]
    for chunk in range(0, 250, 50):
        payload = {"participants": {u: {"role": "Attendee"} for u in users[chunk : chunk + 50]}}
        assert api.patch(path, json=payload).status_code == 200
    items, pages, _ = _follow(api, path)
    assert pages >= 5
    assert [p["rawId"] for p in items] == users


def test_it_rejects_a_tampered_cursor(api):
    response = api.get("/rooms?nextLink=bm90LWEtY3Vyc29y")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "BadRequest"


def test_it_rejects_unsupported_api_versions_with_the_service_message(api):
    response = api.get("/rooms", version="2023-06-14")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        "The HTTP resource that matches the request URI "
        "'http://localhost/rooms?api-version=2023-06-14' does not support the API version "
        "'2023-06-14'."
    )


def test_it_requires_an_api_version(api):
    response = api.get("/rooms", version=None)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "ApiVersionUnspecified"


def test_it_reads_the_python_sdk_enum_name_as_its_version(api):
    api.create_room()
    response = api.get("/rooms", version="ApiVersion.V2025_03_13")
    assert response.status_code == 200
    assert len(response.get_json()["value"]) == 1


def test_it_stops_listing_expired_rooms_and_forgets_them_after_a_day(api, clock):
    room = api.create_room(validUntil=api.iso(hours=1))
    clock.advance(hours=2)
    assert api.get("/rooms").get_json()["value"] == []
    assert api.get(f"/rooms/{room['id']}").status_code == 200
    clock.advance(days=1)
    assert api.get(f"/rooms/{room['id']}").get_json() == NOT_FOUND


def test_it_answers_404_for_unknown_paths(api):
    response = api.get("/nothing-here")
    assert response.status_code == 404
    assert api.emu.requests()["counts"] == {"Unknown": 1}


def test_it_answers_405_for_a_known_path_with_the_wrong_method(api):
    response = api.call("PUT", "/rooms", json={})
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "MethodNotAllowed"


def test_it_treats_a_participants_patch_without_participants_as_a_no_op(api):
    room = api.create_room(participants={acs_user(1): {"role": "Presenter"}})
    path = f"/rooms/{room['id']}/participants"
    assert api.patch(path, json={}).get_json() == {}
    assert len(api.get(path).get_json()["value"]) == 1
