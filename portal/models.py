"""The audit trail: append-only, hash-chained events of every change and every ACS answer."""

import contextlib
import contextvars
import hashlib
import json
from datetime import UTC

import pgtrigger
from django.conf import settings
from django.db import models

# The prev_hash of the very first event.
GENESIS_HASH = "0" * 64

# Set only while portal.audit.record() inserts an event: every other insert is refused.
_appending = contextvars.ContextVar("audit_appending", default=False)


class AppendOnlyError(RuntimeError):
    """Raised by any attempt to change or delete an audit event, or to add one beside record()."""


def _refuse(what: str) -> AppendOnlyError:
    return AppendOnlyError(
        f"Audit events are append-only: {what} is not allowed. "
        "Add events with portal.audit.record(); they can never be changed or deleted."
    )


@contextlib.contextmanager
def allow_append():
    """Let the block insert audit events; only portal.audit.record() may use it."""
    token = _appending.set(True)
    try:
        yield
    finally:
        _appending.reset(token)


class AuditEventQuerySet(models.QuerySet):
    # The queryset writers bypass Model.save()/delete(), so each one is refused here too.
    def update(self, **kwargs):
        raise _refuse("QuerySet.update()")

    def delete(self):
        raise _refuse("QuerySet.delete()")

    def bulk_update(self, objs, fields, batch_size=None):
        raise _refuse("QuerySet.bulk_update()")

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise _refuse("QuerySet.update_or_create()")

    def bulk_create(self, objs, *args, **kwargs):
        if not _appending.get():
            raise _refuse("QuerySet.bulk_create() outside portal.audit.record()")
        return super().bulk_create(objs, *args, **kwargs)


class AuditEvent(models.Model):
    at = models.DateTimeField(db_index=True)
    # DO_NOTHING without a database constraint: deleting a user must not rewrite audit rows
    # (SET_NULL would UPDATE them behind the append-only guards and break their hashes), and the
    # id stays as evidence of who acted. So `event.actor` raises DoesNotExist once the user is
    # gone: show actor_label, which is what the event recorded.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # Kept as text too, so the event still names its actor after the user is deleted.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=255, blank=True)
    # The room an event concerns, by id and not by foreign key: history outlives the room.
    room_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    changes = models.JSONField(default=dict, blank=True)
    acs_outcome = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # Unique as well: two events can never follow the same one, so even a writer that skipped
    # the chain-head lock could not fork the chain, only fail.
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # The history page's actor filter lists these labels by skipping through this index.
            models.Index(
                fields=["actor_label"],
                condition=models.Q(actor_id__isnull=False),
                name="portal_audit_actor_label",
            ),
        ]
        # Nobody is ever granted change or delete, so the admin offers neither.
        default_permissions = ("view",)
        # The guards above hold for the ORM; on PostgreSQL the database itself refuses to change
        # or remove an event, so raw SQL cannot rewrite history unseen either (SQLite: the
        # ORM guards and audit_verify's hash chain only).
        triggers = [
            pgtrigger.Protect(
                name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_label}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise _refuse("saving an existing event")
        if not _appending.get():
            raise _refuse("saving a new event outside portal.audit.record()")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise _refuse("deleting an event")

    def hashed_content(self) -> dict:
        """Return what the hash covers: every field but id and hash itself."""
        return {
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target_label": self.target_label,
            "room_id": self.room_id,
            "changes": self.changes,
            "acs_outcome": self.acs_outcome,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        # Sorted keys and fixed separators: jsonb reorders keys, so only a canonical form survives
        # the round trip through PostgreSQL as well as SQLite.
        canonical = json.dumps(
            self.hashed_content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class AuditChainHead(models.Model):
    """The chain's one-row tip: record() locks it so appends queue instead of forking."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    length = models.PositiveBigIntegerField(default=0)

    class Meta:
        # Internal bookkeeping: no permissions to grant, nothing for the admin.
        default_permissions = ()
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_one_row")]

    def __str__(self) -> str:
        return f"audit chain head: {self.length} events, last #{self.last_event_id}"


class Preference(models.Model):
    """A user's own display settings, one row per user, made when they first save one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_preference"
    )
    # An IANA zone the portal offers (portal.timezones), or "" to follow the browser's zone.
    time_zone = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Each user edits their own on the setting page: nothing to grant, nothing for the admin.
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.user_id}: {self.time_zone or 'browser zone'}"


class EntraAccount(models.Model):
    """The Entra ID user a portal user signs in as: tenant and object id, never the e-mail."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entra_account"
    )
    tenant_id = models.CharField(max_length=64)
    # `oid`: the same for this user in every app of the tenant (unlike `sub`), and never reused.
    object_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "object_id"], name="portal_entra_account_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_id}@{self.tenant_id}"
