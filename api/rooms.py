"""Rooms: list (the rooms page's filters and paging), get, create, update, delete."""

from datetime import UTC, datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.errors import ApiConflict, Gone
from api.paging import PageMeta, page_body
from api.parsing import Day, Id, Instant
from identities.models import Identity
from portal.paging import LAST_PAGE_ASKED
from portal.services import Conflict, require
from rooms import rules, selectors, services
from rooms.models import Role, Room
from rooms.services import ParticipantEntry

router = Router(tags=["rooms"])

RoleName = Literal["Presenter", "Attendee", "Consumer", "Collaborator"]
Sort = Literal[
    "now",
    "title",
    "-title",
    "valid_from",
    "-valid_from",
    "valid_until",
    "-valid_until",
    "sync_state",
    "-sync_state",
    "created_at",
    "-created_at",
]
State = Literal["", "live", "upcoming", "expired", "any"]
Sync = Literal["", "pending", "synced", "failed", "stopped", "attention"]


class RoomSummary(Schema):
    id: int
    acs_id: str | None
    title: str
    valid_from: datetime
    valid_until: datetime
    pstn_dial_out_enabled: bool
    owner: str | None
    version: int
    window_state: str
    sync_state: str | None
    sync_error: str
    series_id: int | None
    created_at: datetime
    updated_at: datetime


class RoomOut(RoomSummary):
    notes: str


class RoomListItem(RoomSummary):
    participant_count: int


class RoomPage(PageMeta):
    items: list[RoomListItem]


class RoomFilterParams(Schema):
    q: str = Field(
        "", max_length=200, description="Title, ACS id, or a participant's name or e-mail"
    )
    state: State = Field("", description="Window: empty = live and upcoming; any = every room")
    sync: Sync = ""
    owner: Id | None = None
    day: Day | None = Field(None, description="Rooms valid at some time on this day (UTC)")
    sort: Sort = "now"
    page: int = Field(1, ge=1, le=LAST_PAGE_ASKED)


class ParticipantIn(Schema):
    identity: Id
    role: RoleName = "Attendee"


class RoomCreate(Schema):
    title: str
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    pstn_dial_out_enabled: bool = False
    notes: str = ""
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=1000)


class RoomUpdate(Schema):
    version: int = Field(ge=1, le=2**31 - 1, description="The version the client last read")
    title: str | None = None
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    pstn_dial_out_enabled: bool | None = None
    notes: str | None = None


def room_out(room: Room, *, now: datetime | None = None) -> dict:
    sync = getattr(room, "sync", None)
    data = {
        "id": room.pk,
        "acs_id": room.acs_id,
        "title": room.title,
        "valid_from": room.valid_from,
        "valid_until": room.valid_until,
        "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
        "owner": room.owner.get_username() if room.owner_id else None,
        "version": room.version,
        "window_state": rules.window_state(
            room.valid_from, room.valid_until, now or timezone.now()
        ).value,
        "sync_state": sync.state if sync else None,
        "sync_error": sync.last_error if sync else "",
        "series_id": room.series_id,
        "created_at": room.created_at,
        "updated_at": room.updated_at,
    }
    if hasattr(room, "participant_count"):
        data["participant_count"] = room.participant_count
    else:
        data["notes"] = room.notes
    return data


def live_room(actor, pk: int) -> Room:
    """The live room with this id for an actor who may view rooms: 403, 404, or 410 if deleted."""
    require(actor, "rooms.view_room", "view rooms")
    room = Room.objects.select_related("owner", "sync").filter(pk=pk).first()
    if room is None:
        raise Http404("No such room.")
    if room.deleted_at is not None:
        raise Gone(services.ROOM_GONE)
    return room


def entries(participants: list[ParticipantIn]) -> list[ParticipantEntry]:
    """The people to add, by identity id: an id no identity has is refused here, a deleted
    identity by the service."""
    ids = [p.identity for p in participants]
    found = Identity.objects.in_bulk(ids)
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise ValidationError({"participants": f"No identity has the id {missing[0]}."})
    return [ParticipantEntry(person=found[p.identity], role=Role(p.role)) for p in participants]


def _conflict(exc: Conflict) -> ApiConflict:
    current = Room.objects.select_related("owner", "sync").get(pk=exc.current.pk)
    return ApiConflict(exc.message, room_out(current))


@router.get("/rooms", response=RoomPage, summary="List rooms")
def room_list(request, filters: Query[RoomFilterParams]):
    """The rooms page's list: its filters, sort and pages of 25, counted up to 1,000."""
    actor = request.auth
    require(actor, "rooms.view_room", "view rooms")
    chosen = selectors.RoomFilters(
        q=filters.q,
        state=filters.state,
        sync=filters.sync,
        owner=filters.owner,
        day=filters.day,
        sort=filters.sort,
    )
    now = timezone.now()
    # A day is read in UTC, whatever zone a browser cookie would choose on the pages.
    with timezone.override(UTC):
        page = selectors.room_page(user=actor, filters=chosen, number=filters.page, now=now)
    return page_body(page, [room_out(room, now=now) for room in page.object_list])


@router.get("/rooms/{room_id}", response=RoomOut, summary="Get a room")
def room_get(request, room_id: Id):
    """A room with its version (send it back to update or delete) and its sync state."""
    return room_out(live_room(request.auth, room_id))


@router.post("/rooms", response={201: RoomOut}, summary="Create a room")
def room_create(request, data: RoomCreate):
    """ACS's defaults for a missing window; participants as identity ids with roles."""
    actor = request.auth
    require(actor, "rooms.add_room", "create rooms")
    if data.participants:
        require(actor, "rooms.add_participant", "add participants")
    room = services.room_create(
        actor=actor,
        title=data.title,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        pstn_dial_out_enabled=data.pstn_dial_out_enabled,
        notes=data.notes,
        participants=entries(data.participants),
    )
    return Status(201, room_out(live_room(actor, room.pk)))


@router.patch("/rooms/{room_id}", response=RoomOut, summary="Update a room")
def room_update(request, room_id: Id, data: RoomUpdate):
    """Only the fields sent change. A version older than the room's is a 409 carrying the
    room as it is now: read it, apply the change again, send the new version."""
    actor = request.auth
    require(actor, "rooms.change_room", "edit rooms")
    room = live_room(actor, room_id)
    fields = data.model_dump(exclude_unset=True, exclude={"version"})
    for name in ("title", "valid_from", "valid_until", "pstn_dial_out_enabled", "notes"):
        if name in fields and fields[name] is None:
            raise ValidationError({name: "This field cannot be null."})
    try:
        services.room_update(actor=actor, room=room, expected_version=data.version, **fields)
    except Conflict as exc:
        raise _conflict(exc) from None
    return room_out(live_room(actor, room_id))


@router.delete("/rooms/{room_id}", response={204: None}, summary="Delete a room")
def room_delete(request, room_id: Id, version: int = Query(..., ge=1, le=2**31 - 1)):
    """The version the client last read is required: a newer room is a 409, not deleted."""
    actor = request.auth
    require(actor, "rooms.delete_room", "delete rooms")
    room = live_room(actor, room_id)
    try:
        services.room_delete(actor=actor, room=room, expected_version=version)
    except Conflict as exc:
        raise _conflict(exc) from None
    return Status(204, None)
