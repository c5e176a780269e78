"""Receivers: changes mark their room dirty (the push runs after commit, in a task), and a
deleted identity leaves its rooms."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from identities.events import identity_deleting
from rooms.models import Participant, Room
from rooms.services import identity_leave_rooms
from rooms.sync import mark_room_dirty


@receiver(post_save, sender=Room, dispatch_uid="rooms.room_saved")
def room_saved(sender, instance: Room, raw=False, **kwargs) -> None:
    if raw:
        return  # loading fixtures is not a change to push
    mark_room_dirty(instance.pk)
    # Keep the saved instance in step with the row, so saving it again cannot undo the mark.
    instance.sync_generation += 1
    instance.sync_state = "pending"


@receiver(post_save, sender=Participant, dispatch_uid="rooms.participant_saved")
@receiver(post_delete, sender=Participant, dispatch_uid="rooms.participant_deleted")
def participant_changed(sender, instance: Participant, raw=False, **kwargs) -> None:
    if raw:
        return
    mark_room_dirty(instance.room_id)


@receiver(identity_deleting, dispatch_uid="rooms.identity_deleting")
def identity_deleting_leaves_rooms(sender, actor, identity, **kwargs) -> None:
    """identities sits below rooms and cannot reach into them: rooms reacts to its deletion."""
    identity_leave_rooms(actor=actor, identity=identity)
