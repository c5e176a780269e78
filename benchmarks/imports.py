"""A 1,000-row CSV import, and what it costs another user who creates a room meanwhile.

The import runs in one thread (its own database connection), as a role admin applying a preview;
another thread creates rooms as a scheduler for as long as the import lasts. The baselines are
measured in the same run: the same room create with nothing else running, and the import's
rows added one at a time through participants_add() (20 sampled, scaled to the file).
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta

from django.db import close_old_connections, connection
from django.utils import timezone

from benchmarks.seed import Seeded
from benchmarks.table import Report, Row, Timing, percentile, progress, ratio, secs
from identities.services import NewPerson
from rooms import csv_import, services
from rooms.models import Room

ROWS = 1000
ALONE = 20


def _csv(tag: str, rows: int) -> str:
    lines = ["name,email,role"]
    lines += [
        f"Person {tag} {n},person.{tag}.{n}@import.example.com,{'Presenter' if n % 10 == 0 else ''}"
        for n in range(rows)
    ]
    return "\n".join(lines) + "\n"


def _empty_room(actor, title: str) -> Room:
    start = timezone.now() + timedelta(hours=1)
    return services.room_create(
        actor=actor, title=title, valid_from=start, valid_until=start + timedelta(hours=1)
    )


def _create_once(actor, title: str) -> float:
    started = time.perf_counter()
    _empty_room(actor, title)
    return time.perf_counter() - started


def _timing(values: list[float]) -> Timing:
    return Timing(statistics.median(values), percentile(values, 0.95), len(values))


def run(report: Report, seeded: Seeded) -> None:
    progress(f"room create alone, {ALONE} times")
    alone = [_create_once(seeded.scheduler, f"Alone {n}") for n in range(ALONE)]

    progress("baseline: people added one participants_add() call each (20 sampled)")
    room = _empty_room(seeded.role_admin, "One by one")
    started = time.perf_counter()
    for n in range(20):
        services.participants_add(
            actor=seeded.role_admin,
            room=room,
            entries=[
                services.ParticipantEntry(NewPerson(f"One {n}", f"one.{n}@import.example.com"))
            ],
        )
    one_by_one = (time.perf_counter() - started) / 20 * ROWS

    progress(f"{ROWS}-row CSV import while another user creates rooms")
    target = _empty_room(seeded.role_admin, "Imported")
    plan = csv_import.parse_participants_csv(_csv("a", ROWS), room=target, actor=seeded.role_admin)
    if not plan.ok:
        raise RuntimeError(f"the benchmark's CSV does not parse: {plan.errors[:3]}")
    done = threading.Event()
    result: dict[str, object] = {}
    during: list[float] = []

    def importer() -> None:
        try:
            started = time.perf_counter()
            csv_import.apply_plan(actor=seeded.role_admin, room=target, plan=plan)
            result["seconds"] = time.perf_counter() - started
        except Exception as exc:  # reported in the table, not lost in a thread
            result["error"] = exc
        finally:
            done.set()
            connection.close()

    def creator() -> None:
        try:
            n = 0
            while not done.is_set() or n == 0:
                during.append(_create_once(seeded.scheduler, f"During {n}"))
                n += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=importer), threading.Thread(target=creator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    close_old_connections()
    if "error" in result:
        raise RuntimeError(f"the import failed: {result['error']!r}")
    seconds = float(result["seconds"])
    added = target.participants.count()
    report.add(
        Row(
            f"CSV import of {ROWS:,} new people into one room (one service call)",
            secs(seconds),
            f"{secs(one_by_one)} (one participants_add() per person, 20 sampled, scaled)",
            ratio(seconds, one_by_one),
            target="<= 2 s",
            met=seconds <= 2 and added == ROWS,
            note="" if added == ROWS else f"only {added} people were added",
        )
    )
    alone_t, during_t = _timing(alone), _timing(during)
    report.add(
        Row(
            "another user's room create during that import",
            f"{during_t.text()}, max {max(during) * 1000:.0f} ms",
            f"{alone_t.text()} (alone)",
            ratio(during_t.median, alone_t.median),
            target="max <= import time / 4",
            met=max(during) <= seconds / 4 or max(during) <= 0.25,
        )
    )
