"""Server-side time, CPU and queries of the portal's pages, beside the stock admin's.

Every request goes through the whole in-process stack (django.test.Client: middleware, session,
auth, CSP, templates); the query count is everything one request runs, session and user
included. The portal's and the baselines' requests are interleaved, in an order that rotates
(portal, stock; stock, portal; ...), so a busy spell on the shared machine falls on both. Each
request records its wall time, the CPU time of this process (time.process_time(): Python,
templates and, on SQLite, the database engine itself), the time spent inside each SQL execute
(perf_counter around every execute, through connection.execute_wrapper) and, on a local
PostgreSQL, the CPU its backend process used (from /proc/<backend pid>/stat, 10 ms ticks, so
given as a mean). The CSV export is timed separately and its peak memory traced, against an
export that builds the whole file in memory.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks import baseline
from benchmarks.seed import Seeded
from benchmarks.table import Report, Row, percentile, progress, ratio
from identities.models import Identity
from portal.models import AuditEvent
from rooms.models import Room

MAX_QUERIES = 10
LIST_SPEEDUP = 3.0
SEARCH = "budget"
# A slow baseline leaves the rotation after this many seconds, once it has MINIMUM requests.
BUDGET = 8.0
MINIMUM = 5


@dataclass
class Page:
    name: str
    url: str
    baseline_url: str
    speed_target: bool = False
    # The first-attempt stock admin (one query per row), shown as a contrast row only.
    naive_url: str = ""


def _fetch(client: Client, url: str) -> tuple[int, int]:
    """GET url and read the whole body (streamed or not); returns (status, bytes).

    The test client closes the response itself (a streamed one once read), keeping the database
    connection: closing it again here fired request_finished with close_old_connections, and
    every request paid a new connection (a new backend process on PostgreSQL).
    """
    response = client.get(url)
    if response.streaming:
        size = sum(len(chunk) for chunk in response.streaming_content)
    else:
        size = len(response.content)
    return response.status_code, size


class SqlTimer:
    """An execute wrapper: counts the queries and times each one with perf_counter (Django's
    query log rounds each to the millisecond, which read 30 fast queries as 0.0 ms)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


def backend_cpu_clock() -> Callable[[], tuple[int, float] | None] | None:
    """A reader of (backend pid, CPU seconds) of this thread's PostgreSQL backend, or None when
    it cannot be read cheaply: SQLite (its CPU is this process's), a remote server, or no /proc.

    pg_stat_statements would give the same per statement, but it must be preloaded at server
    start, which this shared server does not do.
    """
    if connection.vendor != "postgresql":
        return None
    host = settings.DATABASES["default"].get("HOST") or ""
    if host not in ("", "localhost", "127.0.0.1", "::1") and not host.startswith("/"):
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> tuple[int, float] | None:
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # Fields after the command name: state is the first, utime the 12th, stime the 13th.
        fields = text.rsplit(")", 1)[1].split()
        return pid, (int(fields[11]) + int(fields[12])) / tick

    try:
        sample = read()
        comm = Path(f"/proc/{sample[0]}/comm").read_text().strip() if sample else ""
    except Exception:
        return None
    return read if comm.startswith("postgres") else None


@dataclass
class Sample:
    wall: float
    cpu: float
    sql: float
    queries: int
    db_cpu: float | None


def _sample(client: Client, url: str, clock) -> Sample:
    timer = SqlTimer()
    before = clock() if clock else None
    cpu = time.process_time()
    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        _fetch(client, url)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    after = clock() if clock else None
    db_cpu = None
    # A reconnect in between (another backend) makes the difference meaningless: dropped.
    if before and after and before[0] == after[0]:
        db_cpu = after[1] - before[1]
    return Sample(wall, cpu, timer.seconds, timer.count, db_cpu)


@dataclass
class Stats:
    """One URL's requests: medians of wall, CPU and SQL time; the mean backend CPU."""

    samples: list[Sample] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def p95(self) -> float:
        return percentile([s.wall for s in self.samples], 0.95)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def sql(self) -> float:
        return statistics.median(s.sql for s in self.samples)

    @property
    def queries(self) -> int:
        return self.samples[-1].queries

    @property
    def db_cpu(self) -> float | None:
        values = [s.db_cpu for s in self.samples if s.db_cpu is not None]
        return sum(values) / len(values) if values else None

    def time_text(self) -> str:
        return f"{self.median * 1000:.1f} ms (p95 {self.p95 * 1000:.1f}, n={self.n})"

    def cpu_total(self) -> float:
        return self.cpu + (self.db_cpu or 0.0)

    def cpu_text(self) -> str:
        own = f"{self.cpu * 1000:.1f} ms"
        if self.db_cpu is None:
            where = "with SQLite" if connection.vendor == "sqlite" else "database not measured"
            return f"{own} ({where})"
        return f"{own} + {self.db_cpu * 1000:.1f} ms in PostgreSQL"

    def queries_text(self) -> str:
        return f"{self.queries} ({self.sql * 1000:.2f} ms of SQL)"


def interleaved(
    client: Client, urls: dict[str, str], *, count: int, budgets: dict[str, float | None]
) -> dict[str, Stats]:
    """`count` rounds, each requesting every URL once, the order rotating a step per round;
    one warm-up request each first. A URL whose budget is spent (and has MINIMUM requests)
    leaves the rotation."""
    clock = backend_cpu_clock()
    for url in urls.values():
        _fetch(client, url)
    stats = {key: Stats() for key in urls}
    spent = dict.fromkeys(urls, 0.0)
    active = list(urls)
    for round_ in range(count):
        if not active:
            break
        shift = round_ % len(active)
        for key in active[shift:] + active[:shift]:
            sample = _sample(client, urls[key], clock)
            stats[key].samples.append(sample)
            spent[key] += sample.wall
        active = [
            key
            for key in active
            if not (budgets.get(key) and stats[key].n >= MINIMUM and spent[key] > budgets[key])
        ]
    return stats


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
    big_room = seeded.big_room.pk
    last_admin_page = math.ceil(Room.objects.count() / baseline.ROWS_PER_PAGE)
    # One person in the middle of the table: a search that matches few rooms.
    identities = Identity.objects.order_by("pk")
    person = quote(identities.values_list("email", flat=True)[identities.count() // 2])
    return [
        Page("dashboard /", reverse("dashboard"), reverse("bench_plain_dashboard")),
        Page(
            "rooms list, first page",
            room_list,
            changelist,
            speed_target=True,
            naive_url=reverse("naive_admin:rooms_room_changelist"),
        ),
        Page(
            "rooms list, last page",
            _last_page_url(client, room_list),
            f"{changelist}?p={last_admin_page}",
            speed_target=True,
        ),
        # Every window (state=any), as the stock list shows them, so both show the same rows.
        Page(
            f"rooms list, search ?q={SEARCH} (8 % of rooms)",
            f"{room_list}?q={SEARCH}&state=any",
            f"{changelist}?q={SEARCH}",
            speed_target=True,
        ),
        Page(
            "rooms list, search one person's e-mail",
            f"{room_list}?q={person}&state=any",
            f"{changelist}?q={person}",
            speed_target=True,
        ),
        # What a page costs before its rows: the portal's list finding nothing (no row, no
        # count past the first), the stock admin's index (no query of rooms at all). The lists'
        # 3x target cannot go below it.
        Page(
            "fixed cost: rooms list finding nothing / stock admin index",
            f"{room_list}?q=no-such-room-xq",
            reverse("baseline_admin:index"),
        ),
        Page(
            f"room page, {seeded.big_room.participants.count()} people",
            reverse("rooms:detail", args=[big_room]),
            reverse("baseline_admin:rooms_participant_changelist") + f"?room__exact={big_room}",
            naive_url=reverse("naive_admin:rooms_participant_changelist")
            + f"?room__exact={big_room}",
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


def run(
    report: Report,
    seeded: Seeded,
    *,
    requests: int,
    who: tuple[str, ...] = ("superuser", "scheduler"),
    with_export: bool = True,
) -> dict[str, dict[str, Stats]]:
    """Measure every page for each user; returns the stats per "page as user" and URL kind."""
    users = {"superuser": seeded.superuser, "scheduler": seeded.scheduler}
    not_ready: set[str] = set()
    measured: dict[str, dict[str, Stats]] = {}
    for page in pages(seeded):
        for name in who:
            client = Client()
            client.force_login(users[name])
            progress(f"page {page.name} as {name}")
            urls = {"portal": page.url, "stock": page.baseline_url}
            if page.naive_url:
                urls["naive"] = page.naive_url
            statuses = {key: _fetch(client, url)[0] for key, url in urls.items()}
            ok = {key: url for key, url in urls.items() if statuses[key] == 200}
            stats = interleaved(
                client,
                ok,
                count=requests,
                budgets={"stock": BUDGET, "naive": BUDGET},
            )
            label = f"{page.name} as {name}"
            measured[label] = stats
            _rows(report, page, label, statuses, stats)
            if statuses["portal"] != 200:
                not_ready.add(f"{page.name} ({page.url} answered {statuses['portal']})")
    if not_ready:
        report.note(
            "Not measured (the page is not built yet or failed): "
            + "; ".join(sorted(not_ready))
            + ". Re-run `make bench` when these pages land."
        )
    if with_export:
        export(report, seeded)
    return measured


def _rows(
    report: Report, page: Page, label: str, statuses: dict[str, int], stats: dict[str, Stats]
) -> None:
    mine, stock = stats.get("portal"), stats.get("stock")
    base_time = stock.time_text() if stock else f"status {statuses['stock']}"
    if mine is None:
        note = f"status {statuses['portal']}, not measured"
        report.add(Row(f"{label}: time", "-", base_time, note=note))
        report.add(Row(f"{label}: queries", "-", stock.queries_text() if stock else "-", note=note))
        return
    speedup = ratio(mine.median, stock.median if stock else None)
    report.add(
        Row(
            f"{label}: time",
            mine.time_text(),
            base_time,
            speedup,
            target=f">= {LIST_SPEEDUP:.0f}x faster" if page.speed_target else "-",
            met=(speedup is not None and speedup >= LIST_SPEEDUP) if page.speed_target else None,
        )
    )
    report.add(
        Row(
            f"{label}: CPU",
            mine.cpu_text(),
            stock.cpu_text() if stock else "-",
            ratio(mine.cpu_total(), stock.cpu_total() if stock else None),
        )
    )
    report.add(
        Row(
            f"{label}: queries",
            mine.queries_text(),
            stock.queries_text() if stock is not None else "-",
            ratio(mine.queries, stock.queries if stock else None),
            target=f"<= {MAX_QUERIES}",
            met=mine.queries <= MAX_QUERIES,
        )
    )
    naive = stats.get("naive")
    if naive is not None:
        report.add(
            Row(
                f"{label}: time against the NAIVE stock admin (one query per row; contrast only)",
                mine.time_text(),
                f"{naive.time_text()}, {naive.queries} queries",
                ratio(mine.median, naive.median),
                target="- (contrast)",
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
