"""Background tasks for rooms: thin wrappers that load by id and call the sync."""

from django.tasks import task

from rooms.sync import push_room


@task
def sync_room(room_id: int) -> str:
    return push_room(room_id)
