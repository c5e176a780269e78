"""The throwaway database of one benchmark run: created, migrated, and dropped at the end."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connections


def _is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def describe() -> str:
    db = settings.DATABASES["default"]
    if _is_postgres():
        return f"PostgreSQL database {db['NAME']} on {db.get('HOST') or 'localhost'}"
    return f"SQLite file {db['NAME']}"


def _admin_connection():
    """A connection to the server's maintenance database, to create and drop the bench one."""
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname="postgres",
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
    )


def create() -> float:
    """Create (PostgreSQL) or empty (SQLite) and migrate the fresh database; returns the seconds."""
    started = time.perf_counter()
    # Also a reset: `--sizes` makes a fresh database per size in one process.
    connections.close_all()
    name = settings.DATABASES["default"]["NAME"]
    if _is_postgres():
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
    call_command("migrate", verbosity=0, interactive=False)
    return time.perf_counter() - started


def drop() -> None:
    """Close every connection and remove the database (and the run's temporary files)."""
    connections.close_all()
    if _is_postgres():
        name = settings.DATABASES["default"]["NAME"]
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # The run's directory, and the two temporary ones tests.settings makes on import.
    test_db = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    for path, prefix in (
        (Path(settings.RUN_DIR), "portal-bench-"),
        (Path(settings.STATIC_ROOT), "portal-static-"),
        (Path(test_db).parent if test_db else None, "portal-test-db-"),
    ):
        if path is not None and path.name.startswith(prefix):
            shutil.rmtree(path, ignore_errors=True)
