"""What the portal's pages are measured against: a stock Django admin of the same models.

Two admin sites. `site` (/baseline-admin/) is the FAIR baseline, what a competent Django
developer writes with stock tools only: the list's columns, a search box, the participant and
room counts as a correlated `Subquery` annotation (one query for the whole page), and
`list_select_related` for every related column, so no list runs a query per row. `naive_site`
(/naive-admin/) keeps the first attempt for contrast only: the count as a plain method (one
COUNT per row) and the participant list loading each participant's room for `str()` (the
action checkbox's label), about 500 queries for a 500-person room. Its rows are labelled
"naive" in the table and never carry a target.

Also two benchmark-only views: a role change that can push to ACS inside the request (the
synchronous contrast), and a CSV export that builds the whole file in memory (the
non-streaming contrast).
"""

import csv
import io
import json

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from identities.models import Identity
from portal.models import AuditEvent
from rooms import services
from rooms.models import Participant, Room
from rooms.sync import push_room

# The portal's list pages show 25 rows; the stock lists show as many, so both render alike.
ROWS_PER_PAGE = 25


class BaselineAdminSite(admin.AdminSite):
    site_header = "Stock Django admin (benchmark baseline)"


class NaiveAdminSite(admin.AdminSite):
    site_header = "Stock Django admin, first attempt (benchmark contrast)"


site = BaselineAdminSite(name="baseline_admin")
naive_site = NaiveAdminSite(name="naive_admin")


def _count_of(model, column: str) -> Coalesce:
    """How many `model` rows point at the outer row: a correlated subquery, which the database
    evaluates for the page's rows only (a GROUP BY join would count every row before LIMIT)."""
    counted = (
        model.objects.filter(**{column: OuterRef("pk")})
        .order_by()
        .values(column)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


ROOM_COLUMNS = ("title", "valid_from", "valid_until", "participant_count", "owner", "sync")
ROOM_SEARCH = (
    "title",
    "acs_id",
    "participants__identity__display_name",
    "participants__identity__email",
)


@admin.register(Room, site=site)
class RoomAdmin(admin.ModelAdmin):
    """The fair stock list: counts annotated, owner and sync state joined."""

    list_display = ROOM_COLUMNS
    list_select_related = ("owner", "sync")
    # What the portal's search looks in, so both lists show the same rows.
    search_fields = ROOM_SEARCH
    list_per_page = ROWS_PER_PAGE

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(participant_total=_count_of(Participant, "room"))
        )

    @admin.display(description="participants", ordering="participant_total")
    def participant_count(self, room: Room) -> int:
        return room.participant_total


@admin.register(Room, site=naive_site)
class NaiveRoomAdmin(admin.ModelAdmin):
    """The first attempt: the count as a plain method, one COUNT query per row."""

    list_display = ROOM_COLUMNS
    search_fields = ROOM_SEARCH
    list_per_page = ROWS_PER_PAGE

    @admin.display(description="participants")
    def participant_count(self, room: Room) -> int:
        return room.participants.count()


@admin.register(Participant, site=site)
class ParticipantAdmin(admin.ModelAdmin):
    """A room's people: this list filtered by room (?room__exact=pk), all on one page.

    `room` is joined too: the action checkbox's label is str(participant), which names the room.
    """

    list_display = ("identity", "role", "added_at")
    list_select_related = ("identity", "room")
    list_per_page = 1000


@admin.register(Participant, site=naive_site)
class NaiveParticipantAdmin(admin.ModelAdmin):
    """The first attempt: str(participant) loads its room, one query per row."""

    list_display = ("identity", "role", "added_at")
    list_per_page = 1000


@admin.register(Identity, site=site)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("display_name", "email", "raw_id", "room_count", "sync")
    list_select_related = ("sync",)
    search_fields = ("display_name", "email", "raw_id")
    list_per_page = ROWS_PER_PAGE

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(room_total=_count_of(Participant, "identity"))

    @admin.display(description="rooms", ordering="room_total")
    def room_count(self, identity: Identity) -> int:
        return identity.room_total


@admin.register(AuditEvent, site=site)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_label", "action", "target_label")
    list_per_page = ROWS_PER_PAGE


@require_POST
def role_change(request: HttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    """Change one role through the service; with push=1, also push the room to ACS right here."""
    participant = get_object_or_404(
        Participant.objects.select_related("room"), pk=participant_pk, room_id=pk
    )
    services.participant_role_change(
        actor=request.user, participant=participant, role=request.POST["role"]
    )
    state = push_room(pk) if request.POST.get("push") == "1" else "queued"
    return HttpResponse(state)


COLUMNS = ["at", "actor_label", "action", "target_type", "target_id", "target_label", "room_id"]


def naive_export(request: HttpRequest) -> HttpResponse:
    """Every audit event as CSV, built whole in memory before the first byte is sent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, "changes", "acs_outcome", "request_id"])
    for event in list(AuditEvent.objects.order_by("pk")):
        writer.writerow(
            [getattr(event, name) for name in COLUMNS]
            + [json.dumps(event.changes), json.dumps(event.acs_outcome), event.request_id]
        )
    return HttpResponse(buffer.getvalue(), content_type="text/csv")
