"""The Django admin for rooms and participants: every write goes through rooms.services."""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

import acs_gateway as acs
from outbox import engine
from outbox.admin import SyncPanelMixin
from outbox.models import SyncState
from portal.admin import CleanSearchMixin, ServiceWritesMixin, copy_into, time_column
from portal.templatetags.portal_tags import when
from rooms import drift, repairs, rules, services
from rooms import series as series_services
from rooms.management.commands.reconcile import NOT_FIXED, describe
from rooms.models import Participant, Role, Room, Series, SeriesParticipant

# The fields a person edits; everything else is the sync's or the services' to write.
ROOM_FORM_FIELDS = ["title", "valid_from", "valid_until", "pstn_dial_out_enabled", "notes"]
ROOM_READONLY_FIELDS = [
    "owner",
    "acs_id",
    "version",
    "created_at_shown",
    "updated_at_shown",
    "sync_panel",
]
STALE_FORM = f"{services.STALE_EDIT} Reload the page to see their change, then make yours again."


class WindowStateFilter(admin.SimpleListFilter):
    title = "window"
    parameter_name = "window"

    def lookups(self, request, model_admin):
        return rules.WindowState.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value is not None and value in rules.WindowState.values:
            return queryset.filter(rules.window_q(value, timezone.now()))
        return queryset


class RoomAdminForm(forms.ModelForm):
    """The room's fields, checked by the rules the services apply, so errors sit by the field."""

    # The version the editor loaded: the admin re-reads the room on save, so it must travel.
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Room
        fields = ROOM_FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
        zone = timezone.get_current_timezone_name()
        for name in ("valid_from", "valid_until"):
            if name in self.fields:
                self.fields[name].help_text = f"In your time zone, {zone}."

    def clean_title(self) -> str:
        title = (self.cleaned_data.get("title") or "").strip()
        if not title:
            raise ValidationError(rules.TITLE_REQUIRED)
        return title

    def clean(self):
        cleaned = super().clean() or {}
        if self.instance.pk:
            seen = cleaned.get("expected_version")
            if seen is not None and seen != self.instance.version:
                raise ValidationError(STALE_FORM, code="stale")
        start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
        # Like room_update: an unchanged window is not judged again (an ended room stays editable).
        window_changed = not self.instance.pk or {"valid_from", "valid_until"} & set(
            self.changed_data
        )
        if start and end and window_changed:
            try:
                rules.check_window(start, end)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


class ParticipantInlineForm(forms.ModelForm):
    class Meta:
        model = Participant
        fields = ["identity", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Who a participant is never changes: remove them and add someone else.
        if self.instance.pk and "identity" in self.fields:
            self.fields["identity"].disabled = True


class ParticipantInline(admin.TabularInline):
    model = Participant
    form = ParticipantInlineForm
    fields = ["identity", "role", "added_at_shown"]
    readonly_fields = ["added_at_shown"]
    autocomplete_fields = ["identity"]
    extra = 0
    added_at_shown = time_column("added_at", "added")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("identity")

    def get_readonly_fields(self, request, obj=None):
        # Only role admins choose roles: anyone else adds Attendees and sees roles read-only.
        readonly = list(super().get_readonly_fields(request, obj))
        if not services.may_give_roles(request.user):
            readonly.insert(0, "role")
        return readonly


@admin.register(Room)
class RoomAdmin(SyncPanelMixin, CleanSearchMixin, ServiceWritesMixin, admin.ModelAdmin):
    form = RoomAdminForm
    inlines = [ParticipantInline]
    list_display = [
        "title",
        "window",
        "window_state",
        "sync_state",
        "acs_id",
        "owner",
        "participant_count",
        "updated_at_shown",
    ]
    list_filter = ["sync__state", "pstn_dial_out_enabled", WindowStateFilter, "owner"]
    list_select_related = ["owner", "sync"]
    search_fields = [
        "title",
        "acs_id",
        "notes",
        "participants__identity__display_name",
        "participants__identity__email",
    ]
    date_hierarchy = "valid_from"
    readonly_fields = ROOM_READONLY_FIELDS
    fieldsets = [
        (None, {"fields": [*ROOM_FORM_FIELDS, "expected_version"]}),
        (
            "Owner and ACS",
            {"fields": ["owner", "acs_id", "version", "created_at_shown", "updated_at_shown"]},
        ),
        ("Sync with ACS", {"classes": ["collapse"], "fields": ["sync_panel"]}),
    ]
    actions = ["retry_sync", "resync_from_acs"]

    def get_queryset(self, request):
        # Tombstones wait for ACS to confirm the deletion: they are gone as far as people go.
        return (
            super()
            .get_queryset(request)
            .filter(deleted_at__isnull=True)
            .annotate(participant_count=Count("participants"))
        )

    created_at_shown = time_column("created_at", "created")
    updated_at_shown = time_column("updated_at", "updated")

    @admin.display(description="window")
    def window(self, room: Room):
        return format_html("{} – {}", when(room.valid_from), when(room.valid_until))

    @admin.display(description="state")
    def window_state(self, room: Room) -> str:
        return rules.window_state(room.valid_from, room.valid_until, timezone.now()).label

    @admin.display(description="participants", ordering="participant_count")
    def participant_count(self, room: Room) -> int:
        # Annotated by get_queryset().
        return room.participant_count  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ writes, via services

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ROOM_FORM_FIELDS}
        if not change:
            room = self.call_service(request, services.room_create, **fields)
        else:
            changed = {name: fields[name] for name in ROOM_FORM_FIELDS if name in form.changed_data}
            room = self.call_service(
                request,
                services.room_update,
                room=obj,
                expected_version=form.cleaned_data.get("expected_version") or obj.version,
                **changed,
            )
        if room is not None:
            copy_into(obj, room)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Participant:
            return super().save_formset(request, form, formset, change)
        room = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        removed = [f.instance for f in formset.deleted_forms if f.instance.pk]
        roles: dict[int, str] = {}
        entries: list[services.ParticipantEntry] = []
        for item in formset.forms:
            if item in formset.deleted_forms or not item.has_changed():
                continue
            role = item.cleaned_data.get("role", Role.ATTENDEE)
            if item.instance.pk:
                if "role" in item.changed_data:
                    roles[item.instance.pk] = role
            else:
                entries.append(
                    services.ParticipantEntry(person=item.cleaned_data["identity"], role=role)
                )
        if removed and self.call_service(
            request,
            services.participants_remove,
            room=room,
            participant_ids=[p.pk for p in removed],
        ):
            formset.deleted_objects = removed
        if roles:
            changed = self.call_service(
                request, services.participants_roles_change, room=room, roles=roles
            )
            formset.changed_objects = [(p, ["role"]) for p in changed or []]
        if entries:
            formset.new_objects = (
                self.call_service(request, services.participants_add, room=room, entries=entries)
                or []
            )
        return None

    def get_deleted_objects(self, objs, request):
        # A deleted room stays as a tombstone with its participants until ACS confirms, so the
        # confirmation lists the rooms alone instead of every participant "to be deleted".
        rooms = list(objs)
        return [str(room) for room in rooms], {"rooms": len(rooms)}, set(), []

    def delete_model(self, request, obj):
        self.call_service(request, services.room_delete, room=obj)

    def delete_queryset(self, request, queryset):
        for room in queryset:
            self.call_service(request, services.room_delete, room=room)

    # ---------------------------------------------------------------------------- actions

    @admin.action(description="Push to ACS now (retry sync)", permissions=["change"])
    def retry_sync(self, request, queryset):
        rooms = list(queryset)
        for room in rooms:
            services.room_retry_sync(actor=request.user, room=room)
        self.message_user(
            request,
            f"Asked for {len(rooms)} room(s) to be pushed to ACS now; "
            "their sync state shows the result.",
            level=messages.SUCCESS,
        )

    @admin.action(description="Resync from ACS (compare; make ACS match)", permissions=["change"])
    def resync_from_acs(self, request, queryset):
        """Compare each chosen room with ACS (a get_room and a roster read each) and repair it
        with room_fix, which records what ACS held; say per room what was found and done."""
        report = [(room, _resync(request.user, room)) for room in queryset]
        in_sync = [room for room, lines in report if lines == [RESYNC_IN_SYNC]]
        if in_sync:
            self.message_user(
                request,
                f"{len(in_sync)} room(s) already in sync with ACS: "
                + ", ".join(str(room) for room in in_sync),
                level=messages.SUCCESS,
            )
        for room, lines in report:
            if room not in in_sync:
                level = messages.SUCCESS if RESYNC_FIXED in lines else messages.WARNING
                self.message_user(request, f"{room}: " + " ".join(lines), level=level)


RESYNC_IN_SYNC = "In sync with ACS: nothing to fix."
RESYNC_FIXED = "Fixed: ACS now matches the portal."
RESYNC_ENDED = "Ended, and ACS no longer holds it, as expected: nothing to fix."
RESYNC_UNREADABLE = "Could not read it from ACS ({error}); nothing was changed."
RESYNC_NOT_FIXED = "Not fixed: {why}."
# The command's reasons, but a person here resyncs again rather than run reconcile.
_NOT_FIXED = {**NOT_FIXED, "changed": "it changed while being compared; resync it again"}


def _resync(actor, room: Room) -> list[str]:
    """What the resync action found and did for one room, one sentence each."""
    try:
        found = drift.drift(rooms=[room])
    except acs.AcsError as exc:
        return [RESYNC_UNREADABLE.format(error=exc)]
    if found.ended:
        return [RESYNC_ENDED]
    differences = found.differences
    lines = [f"{describe(finding)[1]}." for finding in (*differences, *found.pending)]
    if not lines:
        return [RESYNC_IN_SYNC]
    fixable = found.by_room().get(room.pk, [])
    if fixable:
        state = repairs.room_fix(actor=actor, room=room, differences=fixable)
        if state == SyncState.SYNCED:
            lines.append(RESYNC_FIXED)
        else:
            entry = engine.entry("room", room.pk)
            error = (entry.last_error if entry else "") or "no error given"
            why = _NOT_FIXED.get(state) or f"the push ended {state}: {error}"
            lines.append(RESYNC_NOT_FIXED.format(why=why))
    return lines


def _role_action(role: Role):
    def action(modeladmin, request, queryset):
        modeladmin.set_role(request, queryset, role)

    action.__name__ = f"make_{role.value.lower()}"
    return admin.action(description=f"Make {role.label.lower()}", permissions=["change"])(action)


@admin.register(Participant)
class ParticipantAdmin(CleanSearchMixin, ServiceWritesMixin, admin.ModelAdmin):
    list_display = ["identity", "room", "role", "added_at_shown"]
    list_filter = ["role"]
    list_select_related = ["room", "identity"]
    search_fields = ["identity__display_name", "identity__email", "room__title"]
    autocomplete_fields = ["room", "identity"]
    fields = ["room", "identity", "role", "added_at_shown", "updated_at_shown"]
    actions = [_role_action(role) for role in Role]
    added_at_shown = time_column("added_at", "added")
    updated_at_shown = time_column("updated_at", "updated")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(room__deleted_at__isnull=True)

    def get_readonly_fields(self, request, obj=None):
        # Who and where are fixed once added; only the role changes, and only role admins
        # choose one: anyone else adds Attendees.
        readonly = ["added_at_shown", "updated_at_shown"] + (["room", "identity"] if obj else [])
        if not services.may_give_roles(request.user):
            readonly.insert(0, "role")
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            if "role" in form.changed_data:
                self.call_service(
                    request,
                    services.participants_roles_change,
                    room=obj.room,
                    roles={obj.pk: obj.role},
                )
            return
        added = self.call_service(
            request,
            services.participants_add,
            room=obj.room,
            entries=[services.ParticipantEntry(person=obj.identity, role=obj.role)],
        )
        if added:
            copy_into(obj, added[0])

    def delete_model(self, request, obj):
        self.call_service(
            request, services.participants_remove, room=obj.room, participant_ids=[obj.pk]
        )

    def delete_queryset(self, request, queryset):
        for room, ids in _by_room(queryset).items():
            self.call_service(
                request, services.participants_remove, room=room, participant_ids=list(ids)
            )

    def set_role(self, request, queryset, role: str) -> None:
        """Give the chosen participants the role: one service call (one ACS push) per room."""
        changed = 0
        for room, ids in _by_room(queryset).items():
            done = self.call_service(
                request,
                services.participants_roles_change,
                room=room,
                roles=dict.fromkeys(ids, role),
            )
            changed += len(done or [])
        if changed or not self.refused(request):
            self.message_user(
                request, f"{changed} participant(s) are now {role}.", level=messages.SUCCESS
            )


def _by_room(queryset) -> dict[Room, list[int]]:
    grouped: dict[Room, list[int]] = defaultdict(list)
    rooms: dict[int, Room] = {}
    for participant in queryset.select_related("room"):
        room = rooms.setdefault(participant.room_id, participant.room)
        grouped[room].append(participant.pk)
    return grouped


class SeriesRosterInline(admin.TabularInline):
    model = SeriesParticipant
    fields = ("identity", "role")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    """Read-only here: a series changes on its page, where each change names its occurrences."""

    list_display = ("title", "rule", "owner", "time_zone", "cancelled_at", "page")
    list_filter = ("frequency",)
    search_fields = ("title",)
    inlines = [SeriesRosterInline]
    exclude = ("skipped",)

    @admin.display(description="Repeats")
    def rule(self, series: Series) -> str:
        return series_services.describe(series)

    @admin.display(description="Page")
    def page(self, series: Series) -> str:
        return format_html(
            '<a href="{}">Open</a>', reverse("rooms:series_detail", args=[series.pk])
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
