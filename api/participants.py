"""A room's participants: list, add (identity ids with roles), change roles in bulk, remove."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Router, Schema, Status
from pydantic import Field

from api.parsing import Id
from api.rooms import ParticipantIn, RoleName, entries, live_room
from portal.services import require
from rooms import participant_selectors, services
from rooms.models import Participant

router = Router(tags=["participants"])


class ParticipantOut(Schema):
    id: int
    identity: int
    display_name: str
    email: str
    role: str
    added_at: datetime


class ParticipantsAdd(Schema):
    participants: list[ParticipantIn] = Field(min_length=1, max_length=1000)


class RolesChange(Schema):
    roles: dict[Id, RoleName] = Field(
        default_factory=dict,
        max_length=1000,
        description="Participant id (as the list answers it) → its new role",
    )
    identities: dict[Id, RoleName] = Field(
        default_factory=dict,
        max_length=1000,
        description="Identity id → the new role of that person in this room",
    )


def participant_out(participant: Participant) -> dict:
    identity = participant.identity
    return {
        "id": participant.pk,
        "identity": identity.pk,
        "display_name": identity.display_name,
        "email": identity.email,
        "role": participant.role,
        "added_at": participant.added_at,
    }


def _by_participant(room, data: RolesChange) -> dict[int, str]:
    """The roles by participant id, people named by identity found among the room's."""
    if not data.roles and not data.identities:
        raise ValidationError({"roles": "Name at least one participant or identity and its role."})
    roles: dict[int, str] = dict(data.roles)
    if data.identities:
        present = dict(
            Participant.objects.filter(room=room, identity_id__in=data.identities).values_list(
                "identity_id", "pk"
            )
        )
        for identity, role in data.identities.items():
            if identity not in present:
                raise ValidationError({"identities": f"Identity {identity} is not in this room."})
            roles[present[identity]] = role
    return roles


@router.get(
    "/rooms/{room_id}/participants", response=list[ParticipantOut], summary="List participants"
)
def participant_list(request, room_id: Id):
    actor = request.auth
    room = live_room(actor, room_id)
    require(actor, "rooms.view_participant", "view participants")
    return [participant_out(p) for p in participant_selectors.room_participants(room=room)]


@router.post(
    "/rooms/{room_id}/participants",
    response={201: list[ParticipantOut]},
    summary="Add participants",
)
def participants_add(request, room_id: Id, data: ParticipantsAdd):
    """All or nothing. A role other than Attendee needs the permission to give roles."""
    actor = request.auth
    room = live_room(actor, room_id)
    require(actor, "rooms.add_participant", "add participants")
    added = services.participants_add(actor=actor, room=room, entries=entries(data.participants))
    return Status(201, [participant_out(p) for p in added])


@router.post(
    "/rooms/{room_id}/participants/roles",
    response=list[ParticipantOut],
    summary="Change participants' roles",
)
def participants_roles(request, room_id: Id, data: RolesChange):
    """Several roles at once, by participant id (`roles`) or identity id (`identities`), all or
    nothing; answers the room's participants afterwards."""
    actor = request.auth
    room = live_room(actor, room_id)
    require(actor, "rooms.change_participant", "change participants' roles")
    services.participants_roles_change(actor=actor, room=room, roles=_by_participant(room, data))
    return [participant_out(p) for p in participant_selectors.room_participants(room=room)]


@router.delete(
    "/rooms/{room_id}/participants/{participant_id}",
    response={204: None},
    summary="Remove a participant",
)
def participant_remove(request, room_id: Id, participant_id: Id):
    actor = request.auth
    room = live_room(actor, room_id)
    require(actor, "rooms.delete_participant", "remove participants")
    if participant_selectors.room_participant(room=room, participant_pk=participant_id) is None:
        raise Http404(services.NOT_IN_ROOM.format(pk=participant_id))
    services.participants_remove(actor=actor, room=room, participant_ids=[participant_id])
    return Status(204, None)
