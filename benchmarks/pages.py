"""Server-side time and query count of the portal's pages, beside the stock admin's.

Every request goes through the whole in-process stack (django.test.Client: middleware, session,
auth, CSP, templates); the query count is everything one request runs, session and user
included. The CSV export is timed separately and its peak memory traced, against an export
that builds the whole file in memory.
"""

from __future__ import annotations

import math
import re
import statistics
import time
import tracemalloc
from dataclasses import dataclass

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from benchmarks import baseline
from benchmarks.seed import Seeded
from benchmarks.table import Report, Row, progress, ratio, timed
from portal.models import AuditEvent
from rooms.models import Room

MAX_QUERIES = 10
LIST_SPEEDUP = 3.0
SEARCH = "budget"


@dataclass
class Page:
    name: str
    url: str
    baseline_url: str
    speed_target: bool = False


def _fetch(client: Client, url: str) -> tuple[int, int]:
    """GET url and read the whole body (streamed or not); returns (status, bytes)."""
    response = client.get(url)
    if response.streaming:
        size = sum(len(chunk) for chunk in response.streaming_content)
    else:
        size = len(response.content)
    response.close()
    return response.status_code, size


@dataclass
class Queries:
    count: int
    seconds: float

    def text(self) -> str:
        return f"{self.count} ({self.seconds * 1000:.1f} ms of SQL)"


def _queries(client: Client, url: str) -> Queries:
    """How many queries one request runs, and the time spent in them (the rest is Python)."""
    with CaptureQueriesContext(connection) as captured:
        _fetch(client, url)
    seconds = sum(float(query["time"]) for query in captured.captured_queries)
    return Queries(len(captured.captured_queries), seconds)


def _last_page_url(client: Client, url: str) -> str:
    """The portal list's last page, as its own pagination links name it."""
    response = client.get(url)
    html = response.content.decode(errors="replace") if not response.streaming else ""
    pages = [int(n) for n in re.findall(r"[?&;]page=(\d+)", html)]
    # Paginator.get_page() answers the last page for any number past the end.
    return f"{url}?page={max(pages) if pages else 999999}"


def pages(seeded: Seeded) -> list[Page]:
    client = Client()
    client.force_login(seeded.superuser)
    room_list = reverse("rooms:list")
    changelist = reverse("baseline_admin:rooms_room_changelist")
    last_admin_page = math.ceil(Room.objects.count() / baseline.ROWS_PER_PAGE)
    return [
        Page("dashboard /", reverse("dashboard"), reverse("baseline_admin:index")),
        Page("rooms list, first page", room_list, changelist, speed_target=True),
        Page(
            "rooms list, last page",
            _last_page_url(client, room_list),
            f"{changelist}?p={last_admin_page}",
            speed_target=True,
        ),
        Page(
            f"rooms list, search ?q={SEARCH}",
            f"{room_list}?q={SEARCH}",
            f"{changelist}?q={SEARCH}",
            speed_target=True,
        ),
        Page(
            f"room page, {seeded.big_room.participants.count()} people",
            reverse("rooms:detail", args=[seeded.big_room.pk]),
            reverse("baseline_admin:rooms_participant_changelist")
            + f"?room__exact={seeded.big_room.pk}",
        ),
        Page(
            "identities",
            reverse("identities:list"),
            reverse("baseline_admin:identities_identity_changelist"),
        ),
        Page(
            "history",
            reverse("history"),
            reverse("baseline_admin:portal_auditevent_changelist"),
        ),
    ]


def _measure(client: Client, url: str, count: int, budget: float | None):
    status, _ = _fetch(client, url)
    if status != 200:
        return status, None, None
    warmup = 1 if budget else 3
    timing = timed(
        lambda: _fetch(client, url), count=count, warmup=warmup, budget=budget, minimum=5
    )
    return status, timing, _queries(client, url)


def run(report: Report, seeded: Seeded, *, requests: int) -> None:
    users = [("superuser", seeded.superuser), ("scheduler", seeded.scheduler)]
    not_ready: set[str] = set()
    for page in pages(seeded):
        for who, user in users:
            client = Client()
            client.force_login(user)
            progress(f"page {page.name} as {who}")
            status, timing, queries = _measure(client, page.url, requests, None)
            base_status, base_timing, base_queries = _measure(
                client, page.baseline_url, requests, budget=8.0
            )
            _rows(
                report,
                page,
                who,
                (status, timing, queries),
                (base_status, base_timing, base_queries),
            )
            if status != 200:
                not_ready.add(f"{page.name} ({page.url} answered {status})")
    if not_ready:
        report.note(
            "Not measured (the page is not built yet or failed): "
            + "; ".join(sorted(not_ready))
            + ". Re-run `make bench` when these pages land."
        )
    export(report, seeded)


def _rows(report: Report, page: Page, who: str, mine, stock) -> None:
    status, timing, queries = mine
    base_status, base_timing, base_queries = stock
    label = f"{page.name} as {who}"
    base_text = base_timing.text() if base_timing else f"status {base_status}"
    if timing is None:
        note = f"status {status}, not measured"
        report.add(Row(f"{label}: time", "-", base_text, note=note))
        base = base_queries.text() if base_queries else "-"
        report.add(Row(f"{label}: queries", "-", base, note=note))
        return
    speedup = ratio(timing.median, base_timing.median if base_timing else None)
    report.add(
        Row(
            f"{label}: time",
            timing.text(),
            base_text,
            speedup,
            target=f">= {LIST_SPEEDUP:.0f}x faster" if page.speed_target else "-",
            met=(speedup is not None and speedup >= LIST_SPEEDUP) if page.speed_target else None,
        )
    )
    report.add(
        Row(
            f"{label}: queries",
            queries.text(),
            base_queries.text() if base_queries is not None else "-",
            ratio(queries.count, base_queries.count if base_queries else None),
            target=f"<= {MAX_QUERIES}",
            met=queries.count <= MAX_QUERIES,
        )
    )


def _export_run(client: Client, url: str) -> tuple[int, int, float]:
    started = time.perf_counter()
    status, size = _fetch(client, url)
    return status, size, time.perf_counter() - started


def _traced_peak(client: Client, url: str) -> int:
    tracemalloc.start()
    try:
        _fetch(client, url)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def export(report: Report, seeded: Seeded) -> None:
    """The history CSV of every event: time (mean of 2 runs) and peak traced memory (a third)."""
    events = AuditEvent.objects.count()
    client = Client()
    client.force_login(seeded.superuser)
    url, naive_url = reverse("history_export"), reverse("bench_naive_export")
    progress(f"CSV export of {events} events")
    naive = [_export_run(client, naive_url) for _ in range(2)]
    naive_time = statistics.median(run[2] for run in naive)
    naive_peak = _traced_peak(client, naive_url)
    first = _export_run(client, url)
    status, size = first[0], first[1]
    label = f"history CSV export, {events:,} events"
    naive_text = f"{naive_time:.2f} s (in memory)"
    naive_mb = f"{naive_peak / 1e6:.1f} MB (CSV {naive[0][1] / 1e6:.1f} MB)"
    if status != 200:
        note = f"status {status}, not measured"
        report.add(Row(f"{label}: time", "-", naive_text, note=note))
        report.add(Row(f"{label}: peak memory", "-", naive_mb, note=note))
        report.note(f"history CSV export ({url}) answered {status}: re-run when it lands.")
        return
    mine = statistics.median([first[2], _export_run(client, url)[2]])
    peak = _traced_peak(client, url)
    report.add(
        Row(f"{label}: time", f"{mine:.2f} s", naive_text, ratio(mine, naive_time), target="-")
    )
    gain = ratio(peak, naive_peak)
    report.add(
        Row(
            f"{label}: peak memory",
            f"{peak / 1e6:.1f} MB (CSV {size / 1e6:.1f} MB)",
            naive_mb,
            gain,
            target="streams: >= 4x less",
            met=gain is not None and gain >= 4,
        )
    )
