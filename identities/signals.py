"""Receivers that only mark an identity dirty; the push runs after commit, in a task."""

from django.db.models.signals import post_save

from identities.models import Identity
from identities.sync import mark_identity_dirty


def identity_saved(sender, instance: Identity, raw=False, created=False, update_fields=None, **kw):
    if raw:
        return
    # Only creation and deletion reach ACS; token bookkeeping and renames do not.
    if created or (update_fields and "deleted_at" in update_fields) or update_fields is None:
        mark_identity_dirty(instance.pk)


def connect() -> None:
    post_save.connect(identity_saved, sender=Identity, dispatch_uid="identities.identity_saved")
