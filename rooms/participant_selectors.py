"""Read queries for the room page: its people, people who could join it, and its history."""

from collections.abc import Iterable

from django.db.models import OuterRef, Q, QuerySet, Subquery

from identities.models import Identity
from portal.models import AuditEvent
from portal.selectors import room_events
from portal.services import search_text
from rooms.models import Participant, Room

SEARCH_LIMIT = 20
HISTORY_PAGE = 20


def room_participants(*, room: Room) -> QuerySet[Participant]:
    """Everyone in the room with their identity, by name: two queries however many there are.

    Not a join: for a large room PostgreSQL hash-joined the participants with a scan of every
    identity (16-20 ms at 100,000 rooms, growing with them). The name to sort by is read per
    participant through the identity's primary key, and the identities are fetched by primary
    key too (prefetch), so the cost follows the room's size, not the number of identities.
    """
    name = Identity.objects.filter(pk=OuterRef("identity_id")).values("display_name")[:1]
    return (
        Participant.objects.filter(room=room)
        .annotate(identity_name=Subquery(name))
        .order_by("identity_name", "pk")
        .prefetch_related("identity")
    )


def room_participant_count(*, room: Room) -> int:
    return Participant.objects.filter(room=room).count()


def room_participant(*, room: Room, participant_pk: int) -> Participant | None:
    """One person in this room (None once they were removed, or if they are in another room)."""
    return (
        Participant.objects.filter(room=room, pk=participant_pk).select_related("identity").first()
    )


def addable_identities(
    *, room: Room, query: str = "", exclude: Iterable[int] = (), limit: int = SEARCH_LIMIT
) -> list[Identity]:
    """Live identities not in the room matching a name, e-mail or ACS id; at most `limit`."""
    identities = Identity.objects.filter(deleted_at__isnull=True).exclude(
        pk__in=Participant.objects.filter(room=room).values("identity_id")
    )
    exclude = [pk for pk in exclude if pk]
    if exclude:
        identities = identities.exclude(pk__in=exclude)
    for word in search_text(query).split():
        identities = identities.filter(
            Q(display_name__icontains=word) | Q(email__icontains=word) | Q(raw_id__icontains=word)
        )
    return list(identities.order_by("display_name", "pk")[:limit])


def chosen_identities(*, pks: Iterable[int]) -> list[Identity]:
    """The live identities a form has ticked so far, by name (kept ticked across searches)."""
    pks = [pk for pk in pks if pk]
    if not pks:
        return []
    return list(
        Identity.objects.filter(pk__in=pks, deleted_at__isnull=True).order_by("display_name", "pk")
    )


def room_history(
    *, room: Room, before: int | None = None, limit: int = HISTORY_PAGE
) -> tuple[list[AuditEvent], int | None]:
    """A page of the room's events, newest first, and the id to continue from (None at the end).

    Paged by the last event shown rather than by offset, so events written while someone reads
    do not shift the next page; the order is (at, id) descending, as room_events sorts.
    """
    events = room_events(room.pk)
    if before is not None:
        anchor = events.filter(pk=before).values_list("at", flat=True).first()
        if anchor is None:
            return [], None
        events = events.filter(Q(at__lt=anchor) | Q(at=anchor, pk__lt=before))
    page = list(events[: limit + 1])
    if len(page) > limit:
        return page[:limit], page[limit - 1].pk
    return page, None
