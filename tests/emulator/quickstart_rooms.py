"""Microsoft's Python Rooms quickstart flow, reading the connection string from the environment."""

import os
from datetime import datetime, timedelta

from azure.communication.identity import CommunicationIdentityClient
from azure.communication.rooms import ParticipantRole, RoomParticipant, RoomsClient
from azure.core.exceptions import HttpResponseError

print("Azure Communication Services - Rooms Quickstart")

# The only departure from the quickstart: the connection string comes from the environment.
connection_string = os.environ["ACS_CONNECTION_STRING"]
rooms_client = RoomsClient.from_connection_string(connection_string)
identity_client = CommunicationIdentityClient.from_connection_string(connection_string)

user1 = identity_client.create_user()
user2 = identity_client.create_user()
user3 = identity_client.create_user()

participant_1 = RoomParticipant(communication_identifier=user1, role=ParticipantRole.PRESENTER)
participant_2 = RoomParticipant(communication_identifier=user2, role=ParticipantRole.CONSUMER)
participants = [participant_1, participant_2]

# Create a room
valid_from = datetime.now()
valid_until = valid_from + timedelta(weeks=4)
pstn_dial_out_enabled = False

try:
    create_room = rooms_client.create_room(
        valid_from=valid_from,
        valid_until=valid_until,
        pstn_dial_out_enabled=pstn_dial_out_enabled,
        participants=participants,
    )
    print("\nCreated a room with id: " + create_room.id)
except HttpResponseError as ex:
    print(ex)

room_id = create_room.id

# Get the room
try:
    get_room = rooms_client.get_room(room_id=room_id)
    print("\nGet room with id: " + get_room.id)
except HttpResponseError as ex:
    print(ex)

# Update the room's lifetime and PSTN dial-out
valid_from = datetime.now()
valid_until = valid_from + timedelta(weeks=7)
pstn_dial_out_enabled = True

try:
    updated_room = rooms_client.update_room(
        room_id=room_id,
        valid_from=valid_from,
        valid_until=valid_until,
        pstn_dial_out_enabled=pstn_dial_out_enabled,
    )
    print("\nThe room has been updated.")
    print("PSTN dial-out enabled: " + str(updated_room.pstn_dial_out_enabled))
except HttpResponseError as ex:
    print(ex)

# List all active rooms
try:
    rooms = rooms_client.list_rooms()
    count = 0
    for room in rooms:
        if count == 1:
            break
        print(
            "\nPrinting the first room in list"
            "\nRoom Id: "
            + room.id
            + "\nCreated date time: "
            + str(room.created_at)
            + "\nValid From: "
            + str(room.valid_from)
            + "\nValid Until: "
            + str(room.valid_until)
        )
        count += 1  # noqa: SIM113 - kept as the quickstart writes it
except HttpResponseError as ex:
    print(ex)

# Add or update participants: the consumer becomes an attendee, a collaborator joins
participant_2 = RoomParticipant(communication_identifier=user2, role=ParticipantRole.ATTENDEE)
participant_3 = RoomParticipant(communication_identifier=user3, role=ParticipantRole.COLLABORATOR)
participants = [participant_2, participant_3]
try:
    rooms_client.add_or_update_participants(room_id=room_id, participants=participants)
    print("\nAdd or update participants in room")
except HttpResponseError as ex:
    print("Error in adding or updating participants to room.", ex)

# List participants
try:
    participants = rooms_client.list_participants(room_id=room_id)
    print("\nRetrieved participants for room:\n")
    for p in participants:
        print(p.communication_identifier.raw_id + " " + p.role)
except HttpResponseError as ex:
    print(ex)

# Remove participants
participants = [user2]
try:
    rooms_client.remove_participants(room_id=room_id, participants=participants)
    print("\nRemoved participants from room")
except HttpResponseError as ex:
    print(ex)

# Delete the room
try:
    rooms_client.delete_room(room_id=room_id)
    print("\nDeleted room with id: " + room_id)
except HttpResponseError as ex:
    print(ex)
