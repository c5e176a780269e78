"""SQLite-backed state: in memory for one process, or a WAL file shared by several processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    pstn INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rooms_by_created ON rooms (created DESC, id DESC);
CREATE TABLE IF NOT EXISTS participants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    raw_id TEXT NOT NULL,
    role TEXT NOT NULL,
    UNIQUE (room_id, raw_id)
);
CREATE TABLE IF NOT EXISTS repeatability (
    request_id TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    deleted INTEGER,
    revoked INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    issued INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    scopes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    operation TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    time TEXT NOT NULL,
    fault TEXT
);
CREATE TABLE IF NOT EXISTS emails (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    operation_id TEXT NOT NULL UNIQUE,
    received INTEGER NOT NULL,
    polls INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS email_bad_addresses (
    address TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Tables emptied by reset(); meta keeps the signing key so old tokens still verify as "deleted".
RESET_TABLES = (
    "rooms",
    "participants",
    "repeatability",
    "identities",
    "tokens",
    "requests",
    "emails",
    "email_bad_addresses",
)


class Store:
    """One SQLite connection behind a lock; every call reads and writes the database itself."""

    def __init__(self, path: str | None = None):
        self.path = path
        self._lock = threading.RLock()
        target = path if path else ":memory:"
        # Autocommit mode: transactions are opened explicitly so writers take the lock up front.
        self._conn = sqlite3.connect(
            target, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 30000")
        if path:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            # executescript commits on its own, so it runs outside write().
            self._conn.executescript(SCHEMA)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; BEGIN IMMEDIATE serialises writers across processes."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction, so a page is read from one consistent snapshot."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def reset(self) -> None:
        with self.write() as conn:
            for table in RESET_TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM meta WHERE key IN ('faults', 'email_retry_after')")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
