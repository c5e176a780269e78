"""The real SDKs against the socket server: rooms, identities, paging, errors and faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.communication.identity import CommunicationIdentityClient, CommunicationTokenScope
from azure.communication.rooms import ParticipantRole, RoomParticipant, RoomsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
)

from acs_emulator import start_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def rooms(server, endpoint):
    with RoomsClient(endpoint, AzureKeyCredential(server.emulator.access_key)) as client:
        yield client


@pytest.fixture
def identities(server, endpoint):
    return CommunicationIdentityClient(endpoint, AzureKeyCredential(server.emulator.access_key))


def test_the_rooms_sdk_runs_a_room_through_its_whole_life(rooms, identities):
    alice, bob = identities.create_user(), identities.create_user()
    start = datetime.now(UTC)
    room = rooms.create_room(
        valid_from=start,
        valid_until=start + timedelta(days=7),
        pstn_dial_out_enabled=True,
        participants=[
            RoomParticipant(communication_identifier=alice, role=ParticipantRole.PRESENTER)
        ],
    )
    assert room.pstn_dial_out_enabled is True
    assert rooms.get_room(room.id).valid_until == room.valid_until
    updated = rooms.update_room(room_id=room.id, valid_until=start + timedelta(days=3))
    assert updated.pstn_dial_out_enabled is True  # sent as null: unchanged
    rooms.add_or_update_participants(
        room_id=room.id,
        participants=[
            RoomParticipant(communication_identifier=bob, role=ParticipantRole.COLLABORATOR),
            RoomParticipant(communication_identifier=alice, role=ParticipantRole.CONSUMER),
        ],
    )
    roster = {p.communication_identifier.raw_id: p.role for p in rooms.list_participants(room.id)}
    assert roster == {alice.raw_id: "Consumer", bob.raw_id: "Collaborator"}
    rooms.remove_participants(room_id=room.id, participants=[alice])
    assert [p.communication_identifier.raw_id for p in rooms.list_participants(room.id)] == [
        bob.raw_id
    ]
    rooms.delete_room(room.id)
    with pytest.raises(ResourceNotFoundError):
        rooms.get_room(room.id)


def test_the_rooms_sdk_pages_through_more_rooms_than_one_page(rooms, server):
    created = {rooms.create_room().id for _ in range(120)}
    listed = [room.id for room in rooms.list_rooms()]
    assert len(listed) == len(set(listed)) == 120
    assert set(listed) == created
    assert server.emulator.requests()["counts"]["Rooms_List"] == 3


def test_the_rooms_sdk_sees_the_service_errors(rooms):
    with pytest.raises(HttpResponseError) as bad_id:
        rooms.get_room("invalid_id")
    assert bad_id.value.error.code == "BadRequest"
    assert bad_id.value.error.message == "Invalid room ID length."
    with pytest.raises(HttpResponseError) as bad_range:
        now = datetime.now(UTC)
        rooms.create_room(valid_from=now, valid_until=now + timedelta(days=200))
    assert bad_range.value.status_code == 400
    assert bad_range.value.error.details[0].target == "ValidUntil"


def test_the_sdks_are_denied_with_a_wrong_key(endpoint):
    client = RoomsClient(endpoint, AzureKeyCredential("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="))
    with pytest.raises(ClientAuthenticationError) as denied:
        client.get_room("99454291444134085")
    assert denied.value.error.code == "Denied"


def test_the_identity_sdk_issues_revokes_and_deletes(identities, server):
    user, token = identities.create_user_and_token(
        [CommunicationTokenScope.CHAT, CommunicationTokenScope.VOIP],
        token_expires_in=timedelta(hours=2),
    )
    # This SDK version hands expiresOn over as the string the service sent.
    lifetime = datetime.fromisoformat(token.expires_on) - datetime.now(UTC)
    assert timedelta(minutes=119) < lifetime <= timedelta(hours=2)
    fresh = identities.get_token(user, [CommunicationTokenScope.VOIP])
    assert server.emulator.token_status(fresh.token)["scopes"] == ["voip"]
    identities.revoke_tokens(user)
    assert server.emulator.token_status(token.token)["reason"] == "revoked"
    identities.delete_user(user)
    assert server.emulator.token_status(fresh.token)["reason"] == "identity deleted"
    with pytest.raises(ClientAuthenticationError):
        identities.get_token_for_teams_user("aad-token", "app-id", "user-id")
    with pytest.raises(HttpResponseError) as too_long:
        identities.get_token(
            identities.create_user(), ["chat"], token_expires_in=timedelta(hours=25)
        )
    assert too_long.value.error.target == "ExpiresInMinutes"


def test_a_dropped_connection_gets_no_answer_at_all(server, endpoint):
    server.emulator.set_faults(drop_rate=1.0, drop_when="before")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{endpoint}/rooms?api-version=2025-03-13", timeout=5)
    # The control API is never faulted.
    assert requests.get(f"{endpoint}/_emulator/health", timeout=5).status_code == 200


def test_the_rooms_sdk_sees_a_drop_after_apply_as_a_response_error(server, endpoint):
    client = RoomsClient(endpoint, AzureKeyCredential(server.emulator.access_key), retry_total=0)
    server.emulator.set_faults(drop_rate=1.0, drop_when="after")
    with pytest.raises(ServiceResponseError):
        client.create_room()
    server.emulator.clear_faults()
    assert len(list(client.list_rooms())) == 1


def test_the_rooms_sdk_sees_injected_errors_and_throttling(server, endpoint):
    client = RoomsClient(endpoint, AzureKeyCredential(server.emulator.access_key), retry_total=0)
    server.emulator.set_faults(error_rates={503: 1.0})
    with pytest.raises(HttpResponseError) as unavailable:
        client.get_room("99454291444134085")
    assert unavailable.value.status_code == 503
    assert unavailable.value.response.headers["Retry-After"] == "1"
    server.emulator.set_faults(throttle_rps=2)
    statuses = []
    for _ in range(3):
        try:
            client.create_room()
            statuses.append(201)
        except HttpResponseError as exc:
            statuses.append(exc.status_code)
    assert statuses == [201, 201, 429]


def test_https_with_the_generated_ca_and_a_connection_string(monkeypatch):
    handle = start_server(tls=True)
    try:
        assert handle.url.startswith("https://127.0.0.1:")
        assert requests.get(f"{handle.url}_emulator/health", verify=handle.ca_bundle).ok
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", handle.ca_bundle)
        client = RoomsClient.from_connection_string(handle.connection_string)
        room = client.create_room()
        assert client.get_room(room.id).id == room.id
        identities = CommunicationIdentityClient.from_connection_string(handle.connection_string)
        assert identities.create_user().raw_id.startswith("8:acs:")
        # One handshake per client: the rooms client's two calls share a kept-alive connection.
        assert handle.stats().tls_handshakes == 3
        assert handle.stats().requests == 4
    finally:
        handle.stop()


def test_the_async_clients_sign_in_a_way_the_emulator_accepts(server, endpoint):
    from azure.communication.identity.aio import CommunicationIdentityClient as AsyncIdentity
    from azure.communication.rooms.aio import RoomsClient as AsyncRooms

    key = AzureKeyCredential(server.emulator.access_key)

    async def scenario():
        async with AsyncRooms(endpoint, key) as rooms_client:
            for _ in range(55):
                await rooms_client.create_room()
            listed = [room.id async for room in rooms_client.list_rooms()]
        async with AsyncIdentity(endpoint, key) as identity_client:
            user = await identity_client.create_user()
            token = await identity_client.get_token(user, ["chat"])
        return listed, token.token

    listed, token = asyncio.run(scenario())
    assert len(set(listed)) == 55
    assert server.emulator.token_status(token)["valid"] is True
