"""Rows of the one table `make bench` prints: measure, figure, baseline, ratio, target, met."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measure beside its same-run baseline.

    `ratio` is how many times better the figure is than the baseline, whichever way "better"
    points (`higher_is_better`), so above 1 always means the portal beats its baseline.
    `met` is None when the row has no target or could not be measured (see `note`).
    """

    measure: str
    figure: str
    baseline: str
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)
        progress(f"note: {text}")


def ratio(figure: float | None, baseline: float | None, *, higher_is_better=False) -> float | None:
    if not figure or not baseline:
        return None
    return figure / baseline if higher_is_better else baseline / figure


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.1f} s"


def progress(text: str) -> None:
    """Progress goes to stderr, so stdout holds only the tables."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Timing:
    median: float
    p95: float
    count: int

    def text(self) -> str:
        return f"{self.median * 1000:.1f} ms (p95 {self.p95 * 1000:.1f}, n={self.count})"


def timed(
    action: Callable[[], object],
    *,
    count: int,
    warmup: int = 3,
    budget: float | None = None,
    minimum: int = 10,
) -> Timing:
    """Median and p95 wall time of `count` calls; with a budget (seconds), stop early once at
    least `minimum` calls ran (used for slow baselines only, and said so in the table)."""
    for _ in range(warmup):
        action()
    samples: list[float] = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        action()
        samples.append(time.perf_counter() - begin)
        if budget and len(samples) >= minimum and time.perf_counter() - started > budget:
            break
    return Timing(statistics.median(samples), percentile(samples, 0.95), len(samples))


def render(report: Report) -> str:
    """The table as Markdown (readable in a terminal too), then the notes."""
    header = ["measure", "figure", "baseline", "ratio", "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report.rows:
        ratio_text = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        met = {True: "yes", False: "NO", None: "n/a"}[row.met]
        measure = row.measure + (f" [{row.note}]" if row.note else "")
        cells = [measure, row.figure, row.baseline, ratio_text, row.target, met]
        lines.append("| " + " | ".join(cells) + " |")
    if report.notes:
        lines.append("")
        lines.extend(f"- {text}" for text in report.notes)
    return "\n".join(lines)
