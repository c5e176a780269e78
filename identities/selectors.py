"""Read queries for the identity pages: the searchable list, an identity's rooms and history."""

from typing import Any

from django.core.paginator import Page
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from identities.models import Identity
from portal.models import AuditEvent
from portal.paging import capped_page
from portal.selectors import audit_events
from portal.services import search_text

# The rooms an identity is in are rooms' rows (rooms.Participant, related_name "participations"):
# identities sits below rooms, so it reaches them through that reverse relation, never by
# importing rooms.
PARTICIPATIONS: Any = Identity._meta.get_field("participations").related_model

# What portal.audit.record() stores as target_type for an identity (its model's label_lower).
IDENTITY_TARGET_TYPE = Identity._meta.label_lower


def _matching(*, search: str, show_deleted: bool) -> QuerySet[Identity]:
    """Identities matching the search (name, e-mail or ACS id), in the list's order; no columns.

    Live identities in (display_name, pk) order read the identity_live_by_name index in order
    rather than sorting every identity (PostgreSQL, 20,000: 119 -> 8 ms for the first page).
    """
    identities = Identity.objects.order_by("display_name", "pk")
    if not show_deleted:
        identities = identities.filter(deleted_at__isnull=True)
    for word in search_text(search).split():
        identities = identities.filter(
            Q(display_name__icontains=word) | Q(email__icontains=word) | Q(raw_id__icontains=word)
        )
    return identities


def _with_room_count(identities: QuerySet[Identity]) -> QuerySet[Identity]:
    """The list's columns: the sync row, and the count of live rooms each identity is in.

    The count is a correlated subquery rather than a JOIN + GROUP BY: the database evaluates it
    only for the rows fetched.
    """
    rooms = (
        PARTICIPATIONS.objects.filter(identity=OuterRef("pk"), room__deleted_at__isnull=True)
        .order_by()
        .values("identity")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return identities.select_related("sync").annotate(
        room_count=Coalesce(Subquery(rooms, output_field=IntegerField()), Value(0))
    )


def identity_list(*, search: str = "", show_deleted: bool = False) -> QuerySet[Identity]:
    """Identities matching the search (name, e-mail or ACS id), each with its live-room count.

    A COUNT(*) of it drops the room count subquery altogether.
    """
    return _with_room_count(_matching(search=search, show_deleted=show_deleted))


def identity_page(*, search: str = "", show_deleted: bool = False, number, per_page: int) -> Page:
    """One page of identity_list(), counted up to 1,000 (or the page's end) and no further.

    Two queries whatever the page: the capped count, and the page's identities with their room
    counts. The page's ids come from the plain query as a subquery: with OFFSET on the
    annotated one the database worked out the room count of every identity it skipped
    (PostgreSQL, 20,000 identities, page 400: 2.3 s).
    """
    identities = _matching(search=search, show_deleted=show_deleted)
    page = capped_page(identities, per_page, number)
    if not page.paginator.count:
        page.object_list = Identity.objects.none()
        return page
    ids = identities.values("pk")[page.start_index() - 1 : page.end_index()]
    page.object_list = _with_room_count(Identity.objects.filter(pk__in=ids)).order_by(
        "display_name", "pk"
    )
    return page


def identity_get(pk: int) -> Identity | None:
    """One identity, deleted or not, with its linked Django user."""
    return Identity.objects.select_related("user", "sync").filter(pk=pk).first()


def identity_rooms(identity: Identity) -> QuerySet:
    """The identity's places in live rooms (tombstoned rooms are on their way out of ACS)."""
    return (
        identity.participations.select_related("room")
        .filter(room__deleted_at__isnull=True)
        .order_by("room__valid_from", "room__pk")
    )


def identity_events(identity: Identity, *, limit: int = 20) -> list[AuditEvent]:
    """The identity's own history, newest first: created, tokens, ACS pushes, deleted."""
    return list(
        audit_events().filter(target_type=IDENTITY_TARGET_TYPE, target_id=str(identity.pk))[:limit]
    )
