"""Time and ACS calls of `reconcile`'s compare over every seeded room, against room-by-room reads.

The embedded emulator is emptied and filled straight through its store with the rooms the portal
holds (those not yet ended: ACS drops a room when it expires), so the compare must find nothing.
The baseline reads each room the naive way (get_room, then list_participants, then the portal's
roster of that room) on an evenly spread sample, scaled to all the rooms compared.
"""

from __future__ import annotations

import math
import time

from django.utils import timezone

import acs_gateway as acs
from benchmarks.seed import seed_emulator
from benchmarks.table import Report, Row, progress, ratio, secs
from rooms.drift import drift, room_differences
from rooms.models import Participant, Room
from rooms.sync import Roster, rosters

SAMPLE = 500


def _calls(emulator) -> int:
    return sum(emulator.requests()["counts"].values())


def _minimum_calls(rooms: list[Room], page_size: int) -> int:
    """The fewest calls the Rooms API allows: list pages, plus each roster's pages."""
    sizes = dict.fromkeys((room.pk for room in rooms), 0)
    ids = Participant.objects.filter(room__in=rooms).order_by().values_list("room_id", flat=True)
    for room_id in ids:
        sizes[room_id] += 1
    roster_pages = sum(max(1, math.ceil(n / page_size)) for n in sizes.values())
    return max(1, math.ceil(len(rooms) / page_size)) + roster_pages


def _naive(rooms: list[Room], gateway) -> None:
    for room in rooms:
        acs_room = gateway.get_room(room.acs_id)
        held = gateway.list_participants(room.acs_id)
        room_differences(room, acs_room, held, rosters([room.pk]).get(room.pk, Roster()))


def run(report: Report) -> None:
    emulator = acs.embedded_emulator(None)
    emulator.reset()
    emulator.clear_faults()
    started = time.perf_counter()
    held = seed_emulator(emulator)
    progress(f"emulator filled with {held} rooms in {time.perf_counter() - started:.1f} s")
    now = timezone.now()
    compared = list(Room.objects.filter(valid_until__gt=now, acs_id__isnull=False).order_by("pk"))
    total = Room.objects.count()

    progress(f"reconcile compare over {total} rooms ({len(compared)} in ACS)")
    before = _calls(emulator)
    started = time.perf_counter()
    found = drift()
    elapsed = time.perf_counter() - started
    calls = _calls(emulator) - before

    sample = compared[:: max(1, len(compared) // SAMPLE)][:SAMPLE]
    progress(f"naive room-by-room compare on a sample of {len(sample)}")
    gateway = acs.get_gateway()
    before = _calls(emulator)
    started = time.perf_counter()
    _naive(sample, gateway)
    scale = len(compared) / len(sample)
    naive_time = (time.perf_counter() - started) * scale
    naive_calls = round((_calls(emulator) - before) * scale)

    differences = found.differences
    note = f"{len(differences)} differences found" if differences else ""
    label = f"reconcile compare, {total:,} portal rooms ({len(compared):,} held by ACS)"
    speed = ratio(elapsed, naive_time)
    report.add(
        Row(
            f"{label}: time",
            secs(elapsed),
            f"{secs(naive_time)} (naive, {len(sample)} sampled, scaled)",
            speed,
            target="faster than naive",
            met=speed is not None and speed > 1 and not differences,
            note=note,
        )
    )
    minimum = _minimum_calls(compared, emulator.rooms.page_size)
    report.add(
        Row(
            f"{label}: ACS calls",
            f"{calls:,}",
            f"{naive_calls:,} (naive, scaled)",
            ratio(calls, naive_calls),
            target=f"<= {minimum:,} (list pages + 1 per roster page)",
            met=calls <= minimum,
        )
    )
    # The next benchmarks start from an empty ACS.
    emulator.reset()
