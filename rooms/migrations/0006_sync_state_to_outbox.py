"""A room's ACS bookkeeping moves to its outbox row (outbox.Entry, kind "room").

Every room's sync fields are copied into an outbox row, then dropped, in one migration (one
transaction on PostgreSQL), so no change to push is lost in between. Reversible: going back
copies the rows into the fields again.
"""

from datetime import datetime

from django.db import migrations
from django.utils import timezone

import outbox.fields

KIND = "room"
BATCH = 2000


def to_outbox(apps, schema_editor):
    Room = apps.get_model("rooms", "Room")
    Entry = apps.get_model("outbox", "Entry")
    now = timezone.now()
    batch = []
    for room in Room.objects.order_by("pk").iterator(chunk_size=BATCH):
        first_sent = room.create_first_sent
        batch.append(
            Entry(
                kind=KIND,
                object_id=room.pk,
                state=room.sync_state,
                generation=room.sync_generation,
                confirmed_generation=room.synced_generation,
                holder=room.claimed_by,
                held_until=room.claimed_until,
                attempts=room.sync_attempts,
                marked_at=room.next_sync_at or room.updated_at,
                # A pending row never scheduled (bulk_create) is due now: the sweep finds it.
                next_try_at=room.next_sync_at
                or (now if room.sync_state in ("pending", "failed") else None),
                last_error=room.sync_error,
                confirmed_at=room.synced_at,
                acs={
                    "state": room.acs_state or {},
                    "create_request_id": str(room.create_request_id),
                    "create_first_sent": first_sent.isoformat() if first_sent else None,
                    "create_payload": room.create_payload or {},
                },
            )
        )
        if len(batch) >= BATCH:
            Entry.objects.bulk_create(batch)
            batch = []
    Entry.objects.bulk_create(batch)


def from_outbox(apps, schema_editor):
    Room = apps.get_model("rooms", "Room")
    Entry = apps.get_model("outbox", "Entry")
    for entry in Entry.objects.filter(kind=KIND).iterator(chunk_size=BATCH):
        book = entry.acs or {}
        first_sent = book.get("create_first_sent")
        fields = {
            "sync_state": entry.state,
            "sync_generation": entry.generation,
            "synced_generation": entry.confirmed_generation,
            "claimed_by": entry.holder,
            "claimed_until": entry.held_until,
            "sync_attempts": entry.attempts,
            "next_sync_at": entry.next_try_at,
            "sync_error": entry.last_error,
            "synced_at": entry.confirmed_at,
            "acs_state": book.get("state") or {},
            "create_first_sent": datetime.fromisoformat(first_sent) if first_sent else None,
            "create_payload": book.get("create_payload") or {},
        }
        if book.get("create_request_id"):
            fields["create_request_id"] = book["create_request_id"]
        Room.objects.filter(pk=entry.object_id).update(**fields)
    Entry.objects.filter(kind=KIND).delete()


SYNC_FIELDS = [
    "acs_state",
    "claimed_by",
    "claimed_until",
    "create_first_sent",
    "create_payload",
    "create_request_id",
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
        ("rooms", "0005_room_list_order_index"),
    ]

    operations = [
        migrations.RunPython(to_outbox, from_outbox),
        *(migrations.RemoveField(model_name="room", name=name) for name in SYNC_FIELDS),
        migrations.AddField(
            model_name="room",
            name="sync",
            field=outbox.fields.SyncRelation(kind="room"),
        ),
    ]
