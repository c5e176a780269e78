"""Receivers: changes mark their room dirty (the push runs after commit, in a task), and a
deleted identity leaves its rooms."""

from django.db.models.signals import post_delete, post_save

from identities.events import identity_deleting
from rooms.models import Participant, Room
from rooms.services import identity_leave_rooms
from rooms.sync import mark_room_dirty


def room_saved(sender, instance: Room, raw=False, **kwargs) -> None:
    if raw:
        return  # loading fixtures is not a change to push
    mark_room_dirty(instance.pk)


def participant_changed(sender, instance: Participant, raw=False, **kwargs) -> None:
    if raw:
        return
    mark_room_dirty(instance.room_id)


def identity_deleting_leaves_rooms(sender, actor, identity, **kwargs) -> None:
    """identities sits below rooms and cannot reach into them: rooms reacts to its deletion."""
    identity_leave_rooms(actor=actor, identity=identity)


def connect() -> None:
    post_save.connect(room_saved, sender=Room, dispatch_uid="rooms.room_saved")
    post_save.connect(
        participant_changed, sender=Participant, dispatch_uid="rooms.participant_saved"
    )
    post_delete.connect(
        participant_changed, sender=Participant, dispatch_uid="rooms.participant_deleted"
    )
    identity_deleting.connect(
        identity_deleting_leaves_rooms, dispatch_uid="rooms.identity_deleting"
    )
