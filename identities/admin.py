"""The Django admin for ACS identities: created, deleted and revoked through identities.services."""

from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q

from identities import services
from identities.models import Identity
from outbox.admin import SyncPanelMixin
from portal.admin import CleanSearchMixin, ServiceWritesMixin, copy_into, time_column

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# Times appear through time_column(): in the user's zone, with the zone named.
DETAIL_FIELDS = [
    "display_name",
    "email",
    "raw_id",
    "user",
    "sync_panel",
    "token_scopes",
    "token_expires_at_shown",
    "tokens_issued_at_shown",
    "tokens_revoked_at_shown",
    "created_by",
    "created_at_shown",
    "updated_at_shown",
    "deleted_at_shown",
]


class RoomCount(TypedDict):
    """What IdentityAdmin.get_queryset() annotates each identity with."""

    room_count: int


class StatusFilter(admin.SimpleListFilter):
    """Live identities unless asked otherwise: deleted ones stay only as history."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("deleted", "Deleted"), ("all", "All")]

    def value(self):
        return super().value() or "live"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        match self.value():
            case "deleted":
                return queryset.filter(deleted_at__isnull=False)
            case "all":
                return queryset
        return queryset.filter(deleted_at__isnull=True)


class IdentityAddForm(forms.ModelForm):
    class Meta:
        model = Identity
        fields = ["display_name", "email"]

    def clean_email(self) -> str:
        # identity_create refuses a second live identity with the same e-mail; say so here first.
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if email and Identity.objects.filter(email=email, deleted_at__isnull=True).exists():
            raise ValidationError(f"An identity with the e-mail {email} exists already.")
        return email


@admin.register(Identity)
class IdentityAdmin(SyncPanelMixin, CleanSearchMixin, ServiceWritesMixin, admin.ModelAdmin):
    add_form = IdentityAddForm
    list_display = [
        "display_name",
        "email",
        "raw_id",
        "sync_state",
        "token_expires_at_shown",
        "room_count",
    ]
    list_filter = [StatusFilter, "sync__state"]
    list_select_related = ["sync"]
    search_fields = ["display_name", "email", "raw_id"]
    actions = ["retry_sync", "revoke_tokens"]
    token_expires_at_shown = time_column("token_expires_at", "token expires")
    tokens_issued_at_shown = time_column("tokens_issued_at", "tokens issued")
    tokens_revoked_at_shown = time_column("tokens_revoked_at", "tokens revoked")
    created_at_shown = time_column("created_at", "created")
    updated_at_shown = time_column("updated_at", "updated")
    deleted_at_shown = time_column("deleted_at", "deleted")

    def get_queryset(self, request):
        live_rooms = Q(participations__room__deleted_at__isnull=True)
        return (
            super()
            .get_queryset(request)
            .annotate(room_count=Count("participations", filter=live_rooms))
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["display_name", "email"] if obj is None else DETAIL_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else DETAIL_FIELDS

    def has_change_permission(self, request, obj=None):
        # There is no identity_update service: an existing identity is shown, never edited.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "autocomplete":
            # Choosing someone to put in a room: a deleted identity cannot be added.
            queryset = queryset.filter(deleted_at__isnull=True)
        return queryset, duplicates

    @admin.display(description="rooms", ordering="room_count")
    def room_count(self, identity: "WithAnnotations[Identity, RoomCount]") -> int:
        return identity.room_count

    def save_model(self, request, obj, form, change):
        if change:
            return  # read-only: see has_change_permission
        identity = self.call_service(
            request,
            services.identity_create,
            display_name=form.cleaned_data["display_name"],
            email=form.cleaned_data.get("email", ""),
        )
        if identity is not None:
            copy_into(obj, identity)

    def delete_model(self, request, obj):
        self.call_service(request, services.identity_delete, identity=obj)

    def delete_queryset(self, request, queryset):
        for identity in queryset:
            self.call_service(request, services.identity_delete, identity=identity)

    def has_revoke_tokens_permission(self, request) -> bool:
        return request.user.has_perm("identities.revoke_tokens")

    @admin.action(description="Revoke access tokens", permissions=["revoke_tokens"])
    def revoke_tokens(self, request, queryset):
        revoked = [
            identity
            for identity in queryset
            if self.call_service(request, services.identity_revoke_tokens, identity=identity)
        ]
        if revoked:
            self.message_user(
                request,
                f"Revoked every access token of {len(revoked)} identit"
                f"{'y' if len(revoked) == 1 else 'ies'}: "
                + ", ".join(str(identity) for identity in revoked),
                level=messages.SUCCESS,
            )

    @admin.action(description="Retry creating the ACS user (retry now)", permissions=["change"])
    def retry_sync(self, request, queryset):
        retried = [
            identity
            for identity in queryset
            if self.call_service(request, services.identity_retry_sync, identity=identity)
        ]
        if retried:
            self.message_user(
                request,
                f"Asked for {len(retried)} identit{'y' if len(retried) == 1 else 'ies'} to be "
                "pushed to ACS now; their sync state shows the result.",
                level=messages.SUCCESS,
            )
