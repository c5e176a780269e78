"""The Django admin's frame: its titles, the read-only audit trail, and the service-writes mixin."""

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from portal.models import AuditEvent
from portal.selectors import SYNC_WORKER_NAME
from portal.services import Conflict, search_text
from portal.templatetags.portal_tags import when

admin.site.site_header = "ACS Rooms portal admin"
admin.site.site_title = "ACS Rooms portal admin"
admin.site.index_title = "Rooms, people and history"

# Set on the request when a service refused the admin's write, so the rest of the save is skipped.
_REFUSED = "_portal_admin_refused"


def service_error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, Conflict):
        return f"{exc.message} Nothing was saved: reload the page and make your change again."
    return str(exc)


def copy_into(target, source) -> None:
    """Make the admin's unsaved instance the object the service saved, so the admin links to it."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


if TYPE_CHECKING:
    # The mixins below go in front of admin.ModelAdmin; the type checker sees them as one.
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object


class CleanSearchMixin(_ModelAdmin):
    """The admin's search (its list and the autocomplete) without control characters.

    RefuseUnstorableInputMiddleware answers a NUL in the query with a 400 first; this keeps the
    ORM safe whoever calls the search, and ignores the other controls as the portal's searches do.
    """

    def get_search_results(self, request, queryset, search_term):
        cleaned = search_text(search_term, max_length=None)
        return super().get_search_results(request, queryset, cleaned)


class ServiceWritesMixin(_ModelAdmin):
    """A ModelAdmin whose writes all go through services.

    The forms check the same rules first, so errors appear beside the fields. Should a service
    still refuse (someone else changed the object meanwhile), the error is shown, what the request
    wrote before is rolled back, the related objects, the admin log and the "saved" message are
    skipped, and the form comes back.
    PermissionDenied is not caught: it becomes the 403 page, as everywhere else.
    """

    def call_service(self, request, service, /, **kwargs):
        """The service's result, or None after telling the user why it refused."""
        try:
            return service(actor=request.user, **kwargs)
        except (ValidationError, Conflict) as exc:
            setattr(request, _REFUSED, True)
            # An admin save is all or nothing: undo what earlier services of this request
            # wrote (the room's fields before a refused inline row). The admin's add, change
            # and delete views run in one transaction; its actions do not, one service each.
            if transaction.get_connection().in_atomic_block:
                transaction.set_rollback(True)
            self.message_user(request, service_error_text(exc), level=messages.ERROR)
            return None

    @staticmethod
    def refused(request) -> bool:
        return getattr(request, _REFUSED, False)

    def save_related(self, request, form, formsets, change):
        if self.refused(request):
            for formset in formsets:
                # construct_change_message() reads what formset.save() would have set.
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_related(request, form, formsets, change)

    def log_addition(self, request, obj, message):
        if not self.refused(request):
            return super().log_addition(request, obj, message)
        return None

    def log_change(self, request, obj, message):
        if not self.refused(request):
            return super().log_change(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        if self.refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if self.refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if self.refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_delete(request, obj_display, obj_id)


def time_column(field: str, description: str):
    """A display method showing a time in the user's zone with the zone named, as pages do."""

    @admin.display(description=description, ordering=field)
    def show(self, obj):
        value = getattr(obj, field)
        return when(value) if value else "—"

    show.__name__ = f"{field}_shown"
    return show


def pretty_json(value) -> str:
    if not value:
        return "—"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="audit-json">{}</pre>', text)


# The audit trail's admin shows these, all read-only. `actor` is left out on purpose: its user may
# be gone (no constraint); the label is the record.
_AUDIT_FIELDS = (
    "at_shown",
    "actor_shown",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "room_id",
    "changes_pretty",
    "acs_outcome_pretty",
    "request_id",
    "prev_hash",
    "hash",
)


@admin.register(AuditEvent)
class AuditEventAdmin(CleanSearchMixin, admin.ModelAdmin):
    """The audit trail, to read: nobody, not even a superuser, may add, change or delete here."""

    list_display = ["at_shown", "actor_shown", "action", "target_label", "room_id", "acs_status"]
    list_display_links = ["at_shown"]
    list_filter = ["action", "at"]
    search_fields = ["actor_label", "target_label", "action", "request_id"]
    fields = _AUDIT_FIELDS
    readonly_fields = _AUDIT_FIELDS
    # The trail grows without end: skip the second COUNT(*) over all of it.
    show_full_result_count = False

    at_shown = time_column("at", "at")

    @admin.display(description="actor", ordering="actor_label")
    def actor_shown(self, event: AuditEvent) -> str:
        # Events no signed-in user made: named as everywhere else (the record keeps "system").
        return SYNC_WORKER_NAME if event.actor_id is None else event.actor_label

    @admin.display(description="ACS status")
    def acs_status(self, event: AuditEvent):
        status = (event.acs_outcome or {}).get("status")
        return "—" if status is None else status

    @admin.display(description="changes")
    def changes_pretty(self, event: AuditEvent):
        return pretty_json(event.changes)

    @admin.display(description="ACS outcome")
    def acs_outcome_pretty(self, event: AuditEvent):
        return pretty_json(event.acs_outcome)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
