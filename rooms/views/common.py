"""Access helpers every room view uses: a room the user may see, or 404."""

from django.shortcuts import get_object_or_404

from portal.services import require
from rooms.models import Room


def get_room_for_user(request, pk: int) -> Room:
    """The live room with this id if the user may view rooms (403 otherwise), else 404."""
    require(request.user, "rooms.view_room", "view rooms")
    return get_object_or_404(
        Room.objects.select_related("owner", "sync"), pk=pk, deleted_at__isnull=True
    )
