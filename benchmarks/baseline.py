"""What the portal's pages are measured against: a stock Django admin of the same models.

Each ModelAdmin is what one writes first: the list's columns, a search box, and the participant
count as a plain method (one COUNT query per row: that N+1 is part of the stock baseline; the
owner column is joined by the admin's own select_related). Also two benchmark-only views: a
role change that can push to ACS inside the request (the synchronous contrast), and a CSV export
that builds the whole file in memory (the non-streaming contrast).
"""

import csv
import io
import json

from django.contrib import admin
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


site = BaselineAdminSite(name="baseline_admin")


@admin.register(Room, site=site)
class RoomAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "valid_from",
        "valid_until",
        "participant_count",
        "owner",
        "sync",
    )
    search_fields = ("title",)
    list_per_page = ROWS_PER_PAGE

    @admin.display(description="participants")
    def participant_count(self, room: Room) -> int:
        return room.participants.count()


@admin.register(Participant, site=site)
class ParticipantAdmin(admin.ModelAdmin):
    """A room's people: this list filtered by room (?room__exact=pk), all on one page."""

    list_display = ("identity", "role", "added_at")
    list_per_page = 1000


@admin.register(Identity, site=site)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("display_name", "email", "raw_id", "room_count", "sync")
    search_fields = ("display_name", "email", "raw_id")
    list_per_page = ROWS_PER_PAGE

    @admin.display(description="rooms")
    def room_count(self, identity: Identity) -> int:
        return identity.participations.count()


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
