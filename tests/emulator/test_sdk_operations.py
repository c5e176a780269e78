"""Every Rooms and Identity operation through the real SDKs: sync, aio, in-process, sockets."""

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import pytest
from azure.communication.rooms import ParticipantRole, RoomParticipant
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

import acs_gateway as acs
from tests.emulator.openapi_validator import all_operations
from tests.emulator.sdk_harness import WIRES, reach

# The SDK's own create_room still calls datetime.utcnow(); that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")


def member(identifier, role):
    return RoomParticipant(communication_identifier=identifier, role=role)


def roster_of(participants):
    return {p.communication_identifier.raw_id: str(p.role) for p in participants}


def sync_walkthrough(target):
    """The SDK sample flow, one call per operation, returning what a caller would look at."""
    seen = {}
    identity = target.identity()
    rooms = target.rooms()
    alice = identity.create_user()
    bob, bob_token = identity.create_user_and_token(["voip"])
    carol = identity.create_user()
    seen["token"] = identity.get_token(alice, ["chat"], token_expires_in=timedelta(hours=1))
    seen["bob_token"] = bob_token
    identity.revoke_tokens(alice)
    with pytest.raises(ClientAuthenticationError):
        identity.get_token_for_teams_user("not-an-entra-token", "app-id", "object-id")

    now = datetime.now(UTC)
    presenters = [member(alice, ParticipantRole.PRESENTER), member(bob, ParticipantRole.CONSUMER)]
    room = rooms.create_room(
        valid_from=now, valid_until=now + timedelta(days=1), participants=presenters
    )
    seen["fetched"] = rooms.get_room(room.id)
    seen["updated"] = rooms.update_room(
        room_id=room.id, valid_until=now + timedelta(days=2), pstn_dial_out_enabled=True
    )
    seen["listed"] = [r.id for r in rooms.list_rooms()]
    rooms.add_or_update_participants(
        room_id=room.id,
        participants=[
            member(bob, ParticipantRole.ATTENDEE),
            member(carol, ParticipantRole.COLLABORATOR),
        ],
    )
    seen["roster"] = roster_of(rooms.list_participants(room.id))
    rooms.remove_participants(room_id=room.id, participants=[alice])
    seen["roster_after_removal"] = roster_of(rooms.list_participants(room.id))
    rooms.delete_room(room.id)
    with pytest.raises(ResourceNotFoundError):
        rooms.get_room(room.id)
    identity.delete_user(carol)
    rooms.close()
    return room, (alice, bob, carol), seen


async def async_walkthrough(target):
    seen = {}
    async with target.async_identity() as identity, target.async_rooms() as rooms:
        alice = await identity.create_user()
        bob, bob_token = await identity.create_user_and_token(["voip"])
        carol = await identity.create_user()
        seen["token"] = await identity.get_token(
            alice, ["chat"], token_expires_in=timedelta(hours=1)
        )
        seen["bob_token"] = bob_token
        await identity.revoke_tokens(alice)
        with pytest.raises(ClientAuthenticationError):
            await identity.get_token_for_teams_user("not-an-entra-token", "app-id", "object-id")

        now = datetime.now(UTC)
        room = await rooms.create_room(
            valid_from=now,
            valid_until=now + timedelta(days=1),
            participants=[
                member(alice, ParticipantRole.PRESENTER),
                member(bob, ParticipantRole.CONSUMER),
            ],
        )
        seen["fetched"] = await rooms.get_room(room.id)
        seen["updated"] = await rooms.update_room(
            room_id=room.id, valid_until=now + timedelta(days=2), pstn_dial_out_enabled=True
        )
        seen["listed"] = [r.id async for r in rooms.list_rooms()]
        await rooms.add_or_update_participants(
            room_id=room.id,
            participants=[
                member(bob, ParticipantRole.ATTENDEE),
                member(carol, ParticipantRole.COLLABORATOR),
            ],
        )
        seen["roster"] = roster_of([p async for p in rooms.list_participants(room.id)])
        await rooms.remove_participants(room_id=room.id, participants=[alice])
        seen["roster_after_removal"] = roster_of(
            [p async for p in rooms.list_participants(room.id)]
        )
        await rooms.delete_room(room.id)
        with pytest.raises(ResourceNotFoundError):
            await rooms.get_room(room.id)
        await identity.delete_user(carol)
    return room, (alice, bob, carol), seen


@pytest.mark.parametrize("flavour", ["sync", "aio"])
@pytest.mark.parametrize("wire", WIRES)
def test_it_serves_every_operation_with_responses_that_match_the_spec(wire, flavour):
    with reach(wire) as target:
        if flavour == "sync":
            room, users, seen = sync_walkthrough(target)
        else:
            room, users, seen = asyncio.run(async_walkthrough(target))
        alice, bob, carol = (u.raw_id for u in users)
        emulator = target.emulator

        assert target.coverage.missing(all_operations()) == set()
        target.coverage.assert_clean()
        assert room.id.isdigit()
        assert seen["fetched"].id == room.id
        assert seen["updated"].pstn_dial_out_enabled is True
        assert seen["updated"].valid_until != seen["fetched"].valid_until
        assert seen["listed"] == [room.id]
        assert seen["roster"] == {alice: "Presenter", bob: "Attendee", carol: "Collaborator"}
        assert seen["roster_after_removal"] == {bob: "Attendee", carol: "Collaborator"}
        assert emulator.token_status(seen["token"].token)["reason"] == "revoked"
        assert emulator.token_status(seen["bob_token"].token)["valid"] is True
        assert emulator.requests()["counts"]["Participants_Update"] == 2


@pytest.mark.parametrize("wire", WIRES)
def test_it_signs_every_request_so_a_wrong_key_is_refused(wire):
    with reach(wire) as target:
        endpoint = target.connection_string.split(";")[0]
        target.connection_string = f"{endpoint};accesskey={base64.b64encode(b'x' * 32).decode()}"

        with pytest.raises(ClientAuthenticationError) as raised:
            target.rooms().create_room()

        assert raised.value.status_code == 401
        assert target.emulator.requests()["counts"] == {"Rooms_Create": 1}
        target.coverage.assert_clean()


def seed_rooms_and_roster(target, rooms=250, participants=250):
    """Rooms made in-process whatever the wire (fast); the first room gets the roster."""
    emulator = target.emulator
    gateway = acs.AcsGateway(emulator.connection_string(acs.EMBEDDED_ENDPOINT), app=emulator)
    prefix = "8:acs:00000000-0000-0000-0000-0000000000aa_0000000a-0000-0000-0000-00000000"
    roster = {f"{prefix}{n:04d}": "Attendee" for n in range(participants)}
    first = gateway.create_room(participants=roster)
    created = [first.id] + [gateway.create_room().id for _ in range(rooms - 1)]
    return first.id, created, roster


@pytest.mark.parametrize("flavour", ["sync", "aio"])
@pytest.mark.parametrize("wire", ["in-process", "https"])
def test_the_sdk_pagers_yield_250_rooms_and_250_participants_each_exactly_once(wire, flavour):
    with reach(wire) as target:
        room_id, created, roster = seed_rooms_and_roster(target)
        before = target.emulator.requests()["counts"]

        if flavour == "sync":
            rooms = target.rooms()
            listed = [r.id for r in rooms.list_rooms()]
            members = roster_of(rooms.list_participants(room_id))
        else:

            async def collect():
                async with target.async_rooms() as rooms:
                    listed = [r.id async for r in rooms.list_rooms()]
                    members = roster_of([p async for p in rooms.list_participants(room_id)])
                return listed, members

            listed, members = asyncio.run(collect())

        counts = target.emulator.requests()["counts"]
        assert sorted(listed) == sorted(created)
        assert len(set(listed)) == 250
        assert members == roster
        assert counts["Rooms_List"] - before.get("Rooms_List", 0) > 1
        assert counts["Participants_List"] - before.get("Participants_List", 0) > 1
        target.coverage.assert_clean()
