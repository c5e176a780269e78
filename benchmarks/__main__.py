"""`make bench`: run every benchmark on a throwaway database and print one table.

    python -m benchmarks            full sizes (10,000 rooms; 7-11 minutes on 2 cores)
    python -m benchmarks --quick    a tenth of the data, fewer requests (3-7 minutes here)
    python -m benchmarks --sizes 1000,10000,100000    the pages at each size, with growth verdicts
    DATABASE_URL=postgres://user@host/name python -m benchmarks    on PostgreSQL

See docs/benchmarks.md for what each row measures and the last table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable

BENCHMARKS = (
    "seed",
    "pages",
    "reconcile",
    "sync",
    "imports",
    "throughput",
    "drain",
    "emulator",
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.partition("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller data and fewer requests")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)} (the data is always seeded)",
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    parser.add_argument(
        "--sizes",
        metavar="N,N,...",
        help="instead of the benchmarks: the pages at each of these room counts, a fresh "
        "database each, and whether each figure stays flat as the data grows",
    )
    args = parser.parse_args(argv)
    if args.sizes is not None:
        try:
            args.sizes = sorted({int(n.replace("_", "")) for n in args.sizes.split(",") if n})
        except ValueError:
            parser.error(f"--sizes takes room counts separated by commas, not {args.sizes!r}")
        if len(args.sizes) < 2 or args.sizes[0] < 10:
            parser.error("--sizes needs at least two different room counts, each at least 10")
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = args.only - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def _guarded(report, name: str, step: Callable[[], object]) -> None:
    """Run one benchmark; a crash is reported in the table's notes and the others still run."""
    from benchmarks.table import progress

    try:
        step()
    except Exception as exc:
        traceback.print_exc()
        progress(f"{name} failed: {exc!r}")
        report.note(f"{name} benchmark FAILED: {type(exc).__name__}: {exc}")


def _scale(args: argparse.Namespace) -> None:
    """`--sizes`: the pages at each size, and the growth table."""
    from benchmarks import database, scale
    from benchmarks.table import progress

    started = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    progress(f"pages at {', '.join(f'{n:,}' for n in args.sizes)} rooms: {database.describe()}")
    try:
        table = scale.run(args.sizes, requests=10 if args.quick else 20)
    finally:
        database.drop()
    table += (
        f"\n- machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; {database.describe()}; "
        f"run took {(time.perf_counter() - started) / 60:.1f} min"
    )
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(table + "\n")


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    # Always these settings: a developer's DJANGO_SETTINGS_MODULE must never point at real data.
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django

    django.setup()
    if args.sizes:
        _scale(args)
        return

    from benchmarks import database, drain, imports, pages, reconcile, seed, sync, throughput
    from benchmarks import emulator as emulator_bench
    from benchmarks.table import Report, Row, progress, ratio, render, secs

    sizes = seed.QUICK if args.quick else seed.FULL
    requests = 20 if args.quick else 50
    report = Report()
    started = time.perf_counter()
    emulator_table = ""
    # A stopped run still drops its database: SIGTERM unwinds through the finally below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    progress(f"creating and migrating a fresh database: {database.describe()}")
    migrate_time = database.create()
    try:
        progress(f"seeding {sizes}")
        seeded = seed.seed(sizes)
        t = seeded.timings
        c = seeded.counts
        progress("seeded in " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()))
        out = io.StringIO()
        from django.core.management import call_command

        verify_started = time.perf_counter()
        call_command("audit_verify", stdout=out)
        report.note(
            f"seeded {c['rooms']:,} rooms, {c['participants']:,} participants, "
            f"{c['identities']:,} identities, {c['events']:,} audit events in "
            f"{t['total']:.1f} s (migrate {migrate_time:.1f} s); audit_verify after the bulk "
            f"insert: {out.getvalue().strip()} ({time.perf_counter() - verify_started:.1f} s)"
        )
        if "seed" in args.only:
            per = seed.services_baseline(seeded)
            people = t["identities"] + t["rooms"] + t["participants"]
            through_services = per["room"] * c["rooms"]
            report.add(
                Row(
                    f"seed {c['rooms']:,} rooms with {c['participants']:,} participants "
                    f"and {c['identities']:,} identities (bulk)",
                    secs(people),
                    f"{secs(through_services)} (room_create(), 20 sampled, scaled)",
                    ratio(people, through_services),
                )
            )
            report.add(
                Row(
                    f"seed {c['events']:,} hash-chained audit events (bulk)",
                    secs(t["events"]),
                    f"{secs(per['event'] * c['events'])} (audit.record(), 300 sampled, scaled)",
                    ratio(t["events"], per["event"] * c["events"]),
                )
            )
        if "pages" in args.only:
            _guarded(report, "pages", lambda: pages.run(report, seeded, requests=requests))
        if "reconcile" in args.only:
            _guarded(report, "reconcile", lambda: reconcile.run(report))
        if "sync" in args.only:

            def calls_and_waiting() -> None:
                sync.calls_per_change(report, seeded)
                sync.user_does_not_wait(report, seeded, requests=max(20, requests // 2))

            _guarded(report, "sync", calls_and_waiting)
        if "imports" in args.only:
            _guarded(report, "imports", lambda: imports.run(report, seeded))
        if "throughput" in args.only:
            _guarded(
                report,
                "throughput",
                lambda: throughput.run(
                    report,
                    seeded,
                    changes=300 if args.quick else 1000,
                    rooms=30 if args.quick else 100,
                    throttle=20,
                ),
            )
        if "drain" in args.only:
            _guarded(
                report,
                "drain",
                lambda: drain.run(report, seeded, rooms=100 if args.quick else 400),
            )
        if "emulator" in args.only:
            progress("ACS emulator requests per second (benchmarks/emulator.py)")
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                _guarded(report, "emulator", lambda: emulator_bench.main([]))
            emulator_table = buffer.getvalue()
    finally:
        database.drop()

    elapsed = time.perf_counter() - started
    import django as dj

    report.note(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}, Django {dj.get_version()}; {database.describe()}; "
        f"{'--quick' if args.quick else 'full'} run took {elapsed / 60:.1f} min"
    )
    table = render(report)
    print(table)
    if emulator_table:
        print("\nACS emulator ceilings (benchmarks/emulator.py):\n" + emulator_table.rstrip())
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(table + "\n")
            if emulator_table:
                handle.write("\n```\n" + emulator_table.rstrip() + "\n```\n")
    missed = [row.measure for row in report.rows if row.met is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: see docs/benchmarks.md for the reasons.")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
