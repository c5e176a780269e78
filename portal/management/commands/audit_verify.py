"""Walk the audit trail's hash chain and report the first event that was altered or removed."""

import argparse
import sys
from datetime import UTC

from django.core.management.base import BaseCommand

from portal.models import GENESIS_HASH, AuditChainHead, AuditEvent


class Command(BaseCommand):
    help = (
        "Recompute every audit event's hash in order and check each links to the one before; "
        "exit 1 naming the first broken link."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since-id",
            type=int,
            default=None,
            help="Start at this event id, trusting the events before it.",
        )
        # For tests that want several chunks; 2,000 rows a round trip suits real use.
        parser.add_argument("--chunk-size", type=int, default=2000, help=argparse.SUPPRESS)

    def handle(self, *args, since_id: int | None, chunk_size: int, **options):
        # Read the head first: an event committed after this read lies beyond last_event_id and
        # is left for the next run, so concurrent appends never look like tampering.
        head = AuditChainHead.objects.filter(pk=1).first()
        events = AuditEvent.objects.order_by("pk")
        if head is not None:
            events = events.filter(pk__lte=head.last_event_id or 0)
        expected_prev, previous = GENESIS_HASH, None
        if since_id is not None:
            events = events.filter(pk__gte=since_id)
            previous = AuditEvent.objects.filter(pk__lt=since_id).order_by("-pk").first()
            if previous is not None:
                expected_prev = previous.hash

        count = 0
        # iterator(): a server-side cursor on PostgreSQL, so 100,000 events use little memory.
        for event in events.iterator(chunk_size=chunk_size):
            if event.compute_hash() != event.hash:
                self._broken(event, "its content was altered: the stored hash does not match it")
            if event.prev_hash != expected_prev:
                if previous is None:
                    why = "the event(s) before it were removed: it should be the first"
                else:
                    why = (
                        f"its prev_hash does not match the hash of the event before it "
                        f"(#{previous.pk}): an event between them was removed, or #{previous.pk} "
                        "was altered and re-hashed"
                    )
                self._broken(event, why)
            expected_prev, previous = event.hash, event
            count += 1

        if head is not None and head.last_event_id is not None and expected_prev != head.hash:
            if previous is None:
                self.stderr.write(
                    f"Audit trail broken: every event up to #{head.last_event_id} was removed."
                )
            else:
                self.stderr.write(
                    f"Audit trail broken after event #{previous.pk} ({_when(previous)}, "
                    f"{previous.action}): the event(s) after it, up to #{head.last_event_id}, "
                    "were removed."
                )
            sys.exit(1)
        self.stdout.write(f"Audit trail intact: {count} events")

    def _broken(self, event: AuditEvent, why: str):
        self.stderr.write(
            f"Audit trail broken at event #{event.pk} ({_when(event)}, {event.action}): {why}."
        )
        sys.exit(1)


def _when(event: AuditEvent) -> str:
    return event.at.astimezone(UTC).isoformat(timespec="seconds")
