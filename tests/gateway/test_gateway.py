"""The portal's ACS gateway: plain values, repeatable creates, one-PATCH rosters, mapped errors."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import acs_gateway as acs
from acs_emulator import Emulator
from tests.emulator.sdk_harness import WIRES, reach

pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

ALICE = "8:acs:00000000-0000-0000-0000-000000000001_0000000a-0000-0000-0000-000000000001"
BOB = "8:acs:00000000-0000-0000-0000-000000000001_0000000a-0000-0000-0000-000000000002"
CAROL = "8:acs:00000000-0000-0000-0000-000000000001_0000000a-0000-0000-0000-000000000003"


@pytest.fixture
def target():
    with reach("in-process") as target:
        yield target
        target.coverage.assert_clean()


@pytest.fixture
def attempts():
    return []


@pytest.fixture
def gateway(target, attempts):
    return target.gateway(on_attempt=attempts.append)


def wire_log(emulator):
    return [(r["operation"], r["status"]) for r in emulator.requests()["requests"]]


# -- rooms


def test_it_creates_gets_updates_and_deletes_a_room_as_plain_values(gateway, target):
    now = datetime.now(UTC).replace(microsecond=0)

    created = gateway.create_room(
        valid_from=now,
        valid_until=now + timedelta(days=3),
        pstn_dial_out_enabled=False,
        participants={ALICE: "Presenter", BOB: "Consumer"},
    )
    fetched = gateway.get_room(created.id)
    updated = gateway.update_room(created.id, pstn_dial_out_enabled=True)
    gateway.delete_room(created.id)

    assert isinstance(created, acs.AcsRoom)
    assert created == fetched
    assert created.valid_from == now
    assert created.valid_until == now + timedelta(days=3)
    assert created.created_at.tzinfo is not None
    assert updated.pstn_dial_out_enabled is True
    assert updated.valid_until == created.valid_until
    assert list(gateway.list_rooms()) == []
    assert wire_log(target.emulator) == [
        ("Rooms_Create", 201),
        ("Rooms_Get", 200),
        ("Rooms_Update", 200),
        ("Rooms_Delete", 204),
        ("Rooms_List", 200),
    ]


def test_it_reuses_a_stored_repeatability_id_so_a_retried_create_makes_one_room(target):
    seen_headers = []

    def recording_app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            seen_headers.append(
                (environ["HTTP_REPEATABILITY_REQUEST_ID"], environ["HTTP_REPEATABILITY_FIRST_SENT"])
            )
        return target.emulator(environ, start_response)

    target.app = recording_app
    gateway = target.gateway()
    request_id = str(uuid.uuid4())
    first_sent = datetime.now(UTC) - timedelta(minutes=1)

    first = gateway.create_room(
        repeatability_request_id=request_id, repeatability_first_sent=first_sent
    )
    retried = gateway.create_room(
        repeatability_request_id=request_id, repeatability_first_sent=first_sent
    )

    assert retried == first
    assert [room.id for room in gateway.list_rooms()] == [first.id]
    stamp = first_sent.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert seen_headers == [(request_id, stamp), (request_id, stamp)]
    assert target.emulator.requests()["counts"]["Rooms_Create"] == 2


def test_it_lets_the_sdk_pick_a_fresh_repeatability_id_when_none_is_stored(gateway):
    one = gateway.create_room()
    two = gateway.create_room()

    assert one.id != two.id


def test_it_sends_upserts_and_removals_in_one_patch(gateway, target):
    room = gateway.create_room(participants={ALICE: "Presenter", BOB: "Consumer"})

    gateway.update_participants(
        room.id, upserts={BOB: "Attendee", CAROL: "Collaborator"}, removals=[ALICE]
    )

    assert gateway.list_participants(room.id) == {BOB: "Attendee", CAROL: "Collaborator"}
    assert target.emulator.requests()["counts"]["Participants_Update"] == 1


def test_it_skips_the_call_when_there_is_nothing_to_change(gateway, target, attempts):
    room = gateway.create_room()

    gateway.update_participants(room.id, upserts={}, removals=[])

    assert "Participants_Update" not in target.emulator.requests()["counts"]
    assert [a.operation for a in attempts] == ["create_room"]


def test_it_pages_through_250_rooms_and_250_participants_each_exactly_once(gateway, target):
    participants = {f"{ALICE[:-4]}{n:04d}": "Attendee" for n in range(250)}
    room = gateway.create_room(participants=participants)
    created = {room.id} | {gateway.create_room().id for _ in range(249)}

    listed = [r.id for r in gateway.list_rooms()]
    roster = gateway.list_participants(room.id)

    assert sorted(listed) == sorted(created)
    assert roster == participants
    counts = target.emulator.requests()["counts"]
    assert counts["Rooms_List"] > 1
    assert counts["Participants_List"] > 1


# -- identity


def test_it_creates_users_and_issues_tokens_that_revocation_invalidates(gateway, target):
    user = gateway.create_user()

    token, expires_on = gateway.issue_token(user, ["chat", "voip"], minutes=60)
    status_before = target.emulator.token_status(token)
    gateway.revoke_tokens(user)
    status_after = target.emulator.token_status(token)
    gateway.delete_user(user)

    assert user.startswith("8:acs:")
    assert status_before["valid"] is True
    assert set(status_before["scopes"]) == {"chat", "voip"}
    assert timedelta(minutes=59) < expires_on - datetime.now(UTC) <= timedelta(minutes=60)
    assert status_after == {**status_after, "valid": False, "reason": "revoked"}


# -- attempts


def test_it_reports_one_attempt_per_http_exchange(gateway, attempts):
    room = gateway.create_room()
    gateway.get_room(room.id)
    with pytest.raises(acs.AcsNotFound):
        gateway.get_room("9" * 17)

    assert [(a.operation, a.status, a.ok) for a in attempts] == [
        ("create_room", 201, True),
        ("get_room", 200, True),
        ("get_room", 404, False),
    ]
    assert all(a.duration_ms >= 0 for a in attempts)
    assert attempts[2].error_code == "NotFound"
    assert attempts[2].error_message == "The server cannot find the requested resource."


def test_it_also_reports_attempts_to_a_per_call_callback(gateway):
    mine = []

    gateway.create_room(on_attempt=mine.append)

    assert [a.operation for a in mine] == ["create_room"]


def test_it_reports_each_page_of_a_listing_as_an_attempt(target, attempts):
    target.emulator.rooms.page_size = 2
    gateway = target.gateway(on_attempt=attempts.append)
    for _ in range(5):
        gateway.create_room()

    assert len(list(gateway.list_rooms())) == 5

    assert [a.operation for a in attempts].count("list_rooms") == 3


# -- errors


def test_it_maps_404_to_not_found_with_the_acs_details(gateway):
    with pytest.raises(acs.AcsNotFound) as raised:
        gateway.get_room("9" * 17)

    error = raised.value
    assert (error.status, error.code) == (404, "NotFound")
    assert error.message == "The server cannot find the requested resource."
    assert error.transient is False
    assert error.attempt.status == 404


def test_it_maps_a_validation_400_to_invalid_request_with_acs_message(gateway):
    now = datetime.now(UTC)

    with pytest.raises(acs.AcsInvalidRequest) as raised:
        gateway.create_room(valid_from=now, valid_until=now + timedelta(days=200))

    error = raised.value
    assert error.status == 400
    assert "The time range is incorrect, or larger than 180 days." in error.message
    assert error.details[0]["target"] == "ValidUntil"
    assert error.transient is False


def test_it_maps_a_stale_repeatability_412_to_invalid_request(gateway):
    with pytest.raises(acs.AcsInvalidRequest) as raised:
        gateway.create_room(
            repeatability_request_id=str(uuid.uuid4()),
            repeatability_first_sent=datetime.now(UTC) - timedelta(minutes=10),
        )

    assert raised.value.status == 412
    assert "5 minute window" in raised.value.message


def test_it_maps_a_malformed_participant_to_invalid_request(gateway):
    room = gateway.create_room()

    with pytest.raises(acs.AcsInvalidRequest, match="wrong_mri"):
        gateway.update_participants(room.id, upserts={"wrong_mri": "Attendee"})


def test_it_maps_429_to_throttled_with_retry_after(gateway, target):
    target.emulator.set_faults(error_rates={429: 1.0})

    with pytest.raises(acs.AcsThrottled) as raised:
        gateway.create_user()

    assert raised.value.status == 429
    assert raised.value.retry_after == 1
    assert raised.value.transient is True


@pytest.mark.parametrize("status", [500, 503])
def test_it_maps_5xx_to_unavailable(gateway, target, status):
    target.emulator.set_faults(error_rates={status: 1.0})

    with pytest.raises(acs.AcsUnavailable) as raised:
        gateway.create_room()

    assert raised.value.status == status
    assert raised.value.transient is True
    assert (raised.value.retry_after is not None) == (status == 503)


@pytest.mark.parametrize(
    ("drop_when", "code"), [("before", "ConnectionFailed"), ("after", "ConnectionLost")]
)
def test_it_maps_a_dropped_connection_to_unavailable(gateway, target, attempts, drop_when, code):
    target.emulator.set_faults(drop_rate=1.0, drop_when=drop_when)

    with pytest.raises(acs.AcsUnavailable) as raised:
        gateway.create_room()

    assert raised.value.code == code
    assert raised.value.status is None
    assert attempts[-1].status is None
    assert attempts[-1].error_code == code


def test_it_maps_a_read_timeout_to_unavailable():
    with reach("http") as target:
        target.emulator.set_faults(latency_ms=1500)
        gateway = target.gateway(read_timeout=0.1)

        with pytest.raises(acs.AcsUnavailable) as raised:
            gateway.create_user()

    assert raised.value.code == "Timeout"
    assert raised.value.transient is True


def test_it_maps_a_refused_signature_to_auth_error(target):
    target.connection_string = Emulator().connection_string(acs.EMBEDDED_ENDPOINT)

    with pytest.raises(acs.AcsAuthError) as raised:
        target.gateway().create_user()

    assert raised.value.status == 401
    assert raised.value.code == "Denied"


def test_it_maps_an_unreachable_endpoint_to_unavailable():
    gateway = acs.AcsGateway("endpoint=http://127.0.0.1:9/;accesskey=" + "QUFB" * 11)

    with pytest.raises(acs.AcsUnavailable) as raised:
        gateway.create_user()

    assert raised.value.code == "ConnectionFailed"


# -- configuration


def test_it_parses_connection_strings_in_any_case_and_order():
    assert acs.parse_connection_string("AccessKey=a2V5;Endpoint=http://h:1/") == (
        "http://h:1",
        "a2V5",
    )
    assert acs.parse_connection_string("endpoint=h.example;accesskey=k")[0] == "https://h.example"
    with pytest.raises(ValueError):
        acs.parse_connection_string("endpoint=https://h")


def test_it_uses_the_embedded_emulator_without_a_connection_string(tmp_path):
    state = str(tmp_path / "acs.sqlite3")

    gateway = acs.AcsGateway("", app=acs.embedded_emulator(state))
    room = gateway.create_room()

    assert acs.embedded_emulator(Path(state)) is acs.embedded_emulator(state)
    assert acs.AcsGateway("", app=Emulator(state_path=state)).get_room(room.id) == room


def test_get_gateway_follows_the_django_settings(settings, tmp_path):
    settings.ACS_CONNECTION_STRING = ""
    settings.ACS_CA_BUNDLE = ""
    settings.ACS_EMULATOR_STATE = str(tmp_path / "state.sqlite3")

    gateway = acs.get_gateway()
    room = gateway.create_room()

    assert acs.get_gateway() is gateway
    assert acs.embedded_emulator(settings.ACS_EMULATOR_STATE).requests()["counts"] == {
        "Rooms_Create": 1
    }
    assert gateway.get_room(room.id) == room


@pytest.mark.parametrize("wire", WIRES)
def test_it_works_the_same_over_every_wire(wire):
    with reach(wire) as target:
        gateway = target.gateway()
        room = gateway.create_room(participants={ALICE: "Presenter"})
        gateway.update_participants(room.id, upserts={BOB: "Consumer"}, removals=[ALICE])
        user = gateway.create_user()

        assert gateway.list_participants(room.id) == {BOB: "Consumer"}
        assert [r.id for r in gateway.list_rooms()] == [room.id]
        assert gateway.issue_token(user, ["voip"], 60)[0].count(".") == 2
        target.coverage.assert_clean()
