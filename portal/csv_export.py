"""The audit trail as CSV, streamed row by row and safe to open in a spreadsheet."""

import csv
import json
from collections.abc import Iterator
from datetime import UTC, tzinfo

from django.db.models import QuerySet
from django.utils import timezone

from portal.models import AuditEvent
from portal.selectors import SYNC_WORKER_NAME

# Rows fetched from the database at a time: memory stays flat however long the trail is.
CHUNK_SIZE = 2000
# Rows joined into one piece of the response: fewer, larger writes to the socket.
ROWS_PER_PIECE = 200

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """The cell as text a spreadsheet shows rather than runs: a leading ' before a formula."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def header(zone_name: str) -> list[str]:
    """The column names; each distinct, in UTC as in any other zone."""
    return [
        "Time (UTC)",
        # "Local time", not "Time": for a user in UTC it would repeat the first column's name.
        f"Local time ({zone_name})",
        "Actor",
        "Action",
        "Target type",
        "Target id",
        "Target label",
        "Room id",
        "Changes",
        "ACS operation",
        "ACS status",
        "ACS error",
        "Request id",
    ]


def row(event: AuditEvent, zone: tzinfo) -> list[str]:
    outcome = event.acs_outcome or {}
    error = outcome.get("error") or ""
    if outcome.get("error_code"):
        error = f"{outcome['error_code']}: {error}" if error else outcome["error_code"]
    cells = [
        event.at.astimezone(UTC).isoformat(timespec="seconds"),
        timezone.localtime(event.at, zone).isoformat(timespec="seconds"),
        SYNC_WORKER_NAME if event.actor_id is None else event.actor_label,
        event.action,
        event.target_type,
        event.target_id,
        event.target_label,
        "" if event.room_id is None else str(event.room_id),
        json.dumps(event.changes, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        if event.changes
        else "",
        str(outcome.get("operation") or ""),
        "" if outcome.get("status") is None else str(outcome["status"]),
        str(error),
        event.request_id,
    ]
    return [neutralise(cell) for cell in cells]


class _Echo:
    """A file-like object whose write() hands back what it was given, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def stream(events: QuerySet[AuditEvent], *, zone: tzinfo, zone_name: str) -> Iterator[str]:
    """The CSV text piece by piece; nothing is read until the first piece is asked for."""
    writer = csv.writer(_Echo())
    # The byte order mark makes Excel read the file as UTF-8 (names with accents stay intact).
    yield "\ufeff" + writer.writerow(header(zone_name))
    piece: list[str] = []
    for event in events.iterator(chunk_size=CHUNK_SIZE):
        piece.append(writer.writerow(row(event, zone)))
        if len(piece) >= ROWS_PER_PIECE:
            yield "".join(piece)
            piece = []
    if piece:
        yield "".join(piece)
