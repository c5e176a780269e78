"""An identity's ACS bookkeeping moves to its outbox row (outbox.Entry, kind "identity").

Every identity's sync fields are copied into an outbox row, then dropped, in one migration (one
transaction on PostgreSQL), so no change to push is lost in between. Reversible: going back
copies the rows into the fields again.
"""

from datetime import datetime

from django.db import migrations
from django.utils import timezone

import outbox.fields

KIND = "identity"
BATCH = 2000


def to_outbox(apps, schema_editor):
    Identity = apps.get_model("identities", "Identity")
    Entry = apps.get_model("outbox", "Entry")
    now = timezone.now()
    batch = []
    for identity in Identity.objects.order_by("pk").iterator(chunk_size=BATCH):
        first_sent = identity.create_first_sent
        request_id = identity.create_request_id
        batch.append(
            Entry(
                kind=KIND,
                object_id=identity.pk,
                state=identity.sync_state,
                generation=identity.sync_generation,
                confirmed_generation=identity.synced_generation,
                holder=identity.claimed_by,
                held_until=identity.claimed_until,
                attempts=identity.sync_attempts,
                marked_at=identity.next_sync_at or identity.updated_at,
                # A pending row never scheduled (bulk_create) is due now: the sweep finds it.
                next_try_at=identity.next_sync_at
                or (now if identity.sync_state in ("pending", "failed") else None),
                last_error=identity.sync_error,
                confirmed_at=identity.synced_at,
                acs={
                    "create_request_id": str(request_id) if request_id else None,
                    "create_first_sent": first_sent.isoformat() if first_sent else None,
                    "create_unanswered": identity.create_unanswered,
                },
            )
        )
        if len(batch) >= BATCH:
            Entry.objects.bulk_create(batch)
            batch = []
    Entry.objects.bulk_create(batch)


def from_outbox(apps, schema_editor):
    Identity = apps.get_model("identities", "Identity")
    Entry = apps.get_model("outbox", "Entry")
    for entry in Entry.objects.filter(kind=KIND).iterator(chunk_size=BATCH):
        book = entry.acs or {}
        first_sent = book.get("create_first_sent")
        Identity.objects.filter(pk=entry.object_id).update(
            sync_state=entry.state,
            sync_generation=entry.generation,
            synced_generation=entry.confirmed_generation,
            claimed_by=entry.holder,
            claimed_until=entry.held_until,
            sync_attempts=entry.attempts,
            next_sync_at=entry.next_try_at,
            sync_error=entry.last_error,
            synced_at=entry.confirmed_at,
            create_request_id=book.get("create_request_id") or None,
            create_first_sent=datetime.fromisoformat(first_sent) if first_sent else None,
            create_unanswered=bool(book.get("create_unanswered")),
        )
    Entry.objects.filter(kind=KIND).delete()


SYNC_FIELDS = [
    "claimed_by",
    "claimed_until",
    "create_first_sent",
    "create_request_id",
    "create_unanswered",
    "next_sync_at",
    "sync_attempts",
    "sync_error",
    "sync_generation",
    "sync_state",
    "synced_at",
    "synced_generation",
]


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0001_initial"),
        ("identities", "0004_identity_email_once_and_create_repeatability"),
    ]

    operations = [
        migrations.RunPython(to_outbox, from_outbox),
        *(migrations.RemoveField(model_name="identity", name=name) for name in SYNC_FIELDS),
        migrations.AddField(
            model_name="identity",
            name="sync",
            field=outbox.fields.SyncRelation(kind="identity"),
        ),
    ]
