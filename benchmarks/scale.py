"""`python -m benchmarks --sizes 1000,10000,100000`: the pages at several data sizes.

Each size gets a fresh database (created, migrated, seeded, VACUUM ANALYZE on PostgreSQL), then
the page benchmark as a superuser (portal and fair stock admin interleaved, no CSV export). The
table has, per page and figure, the value at each size and a growth verdict: flat when the
figure at the largest size is at most 1.5 times the one at the smallest, else how many times it
grew. Rooms scale as asked; identities with them (half as many, 1,000 to 50,000), ten people a
room, one 500-person room, ten audit events a room.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import database, pages, seed
from benchmarks.table import Report, progress

FLAT = 1.5


def sizes_for(rooms: int) -> seed.Sizes:
    """The data of a run with this many rooms (1,000 and 10,000 are --quick's and the full's)."""
    return seed.Sizes(
        rooms=rooms,
        per_room=10,
        identities=max(1_000, min(rooms // 2, 50_000)),
        big_room=500,
        events=10 * rooms,
    )


def growth(values: list[float]) -> str:
    """'flat' when the last (largest size) is at most FLAT times the first, else 'grows xN'."""
    first, last = values[0], values[-1]
    if last <= 0 or (first > 0 and last / first <= FLAT):
        return "flat"
    if first <= 0:
        return "grows (from 0)"
    times = f"{last / first:.1f}"
    # Just over the line must not read as the line itself ("grows x1.5").
    return f"grows x{last / first:.2f}" if float(times) <= FLAT else f"grows x{times}"


@dataclass
class Series:
    name: str
    value: Callable[[pages.Stats], float]
    text: Callable[[float], str]
    kind: str = "portal"


SERIES = [
    Series("portal time", lambda s: s.median, lambda v: f"{v * 1000:.1f} ms"),
    Series("portal CPU", lambda s: s.cpu_total(), lambda v: f"{v * 1000:.1f} ms"),
    Series("portal SQL", lambda s: s.sql, lambda v: f"{v * 1000:.2f} ms"),
    Series("portal queries", lambda s: s.queries, lambda v: f"{v:.0f}"),
    Series("stock time", lambda s: s.median, lambda v: f"{v * 1000:.1f} ms", kind="stock"),
    Series("stock SQL", lambda s: s.sql, lambda v: f"{v * 1000:.2f} ms", kind="stock"),
]


def run(room_counts: list[int], *, requests: int) -> str:
    """Measure every size; returns the growth table (Markdown) with its notes."""
    by_size: dict[int, dict[str, dict[str, pages.Stats]]] = {}
    notes: list[str] = []
    for rooms in sorted(room_counts):
        sizes = sizes_for(rooms)
        progress(f"size {rooms:,} rooms: fresh database, seeding {sizes}")
        database.create()
        started = time.perf_counter()
        seeded = seed.seed(sizes)
        c = seeded.counts
        notes.append(
            f"{rooms:,} rooms: {c['participants']:,} participants, {c['identities']:,} "
            f"identities, {c['events']:,} events, seeded in {time.perf_counter() - started:.1f} s"
        )
        by_size[rooms] = _strip_size(
            pages.run(Report(), seeded, requests=requests, who=("superuser",), with_export=False)
        )
    return render(by_size, notes)


def _strip_size(measured: dict[str, dict[str, pages.Stats]]) -> dict[str, dict[str, pages.Stats]]:
    # "room page, 500 people as superuser": the same page at every size.
    return {label.removesuffix(" as superuser"): stats for label, stats in measured.items()}


def render(by_size: dict[int, dict[str, dict[str, pages.Stats]]], notes: list[str]) -> str:
    counts = sorted(by_size)
    header = ["page", "figure", *(f"{n:,} rooms" for n in counts), "growth"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for page in by_size[counts[0]]:
        for series in SERIES:
            stats = [by_size[n].get(page, {}).get(series.kind) for n in counts]
            if any(s is None or s.n == 0 for s in stats):
                cells = ["-"] * len(counts) + ["not measured"]
            else:
                values = [float(series.value(s)) for s in stats]
                cells = [series.text(v) for v in values] + [growth(values)]
            lines.append("| " + " | ".join([page, series.name, *cells]) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in notes)
    lines.append(
        f"- growth: flat when the figure at {counts[-1]:,} rooms is at most {FLAT}x the one at "
        f"{counts[0]:,}; stock = the fair stock admin (benchmarks/baseline.py)"
    )
    return "\n".join(lines)
