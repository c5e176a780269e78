"""Timestamps as 100 ns ticks since the Unix epoch, written the way ACS writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$"
)


def to_ticks(dt: datetime) -> int:
    delta = dt - EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 10


def from_ticks(ticks: int) -> datetime:
    return EPOCH + timedelta(microseconds=ticks // 10)


def format_ticks(ticks: int) -> str:
    """The time in UTC as ACS writes it: .NET's `yyyy-MM-ddTHH:mm:ss.FFFFFFFzzz`.

    Up to seven fractional digits with the trailing zeros dropped, and no fraction at all on a
    whole second: 2025-02-19T07:30:01.581399+00:00, 2025-02-19T07:29:55.0121419+00:00,
    2025-02-19T07:30:08+00:00. A tick a client sent comes back unchanged."""
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    base = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:07d}".rstrip("0")
    return f"{base}.{fraction}+00:00" if fraction else f"{base}+00:00"


def parse_rfc3339(value: str) -> int | None:
    """Ticks for an RFC3339 string, or None when it cannot be read (no offset = UTC, like .NET)."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, frac, offset = match.groups()
    try:
        dt = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    ticks = to_ticks(dt) + int(((frac or "") + "0000000")[:7])
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        ticks -= sign * (hours * 3600 + minutes * 60) * TICKS_PER_SECOND
    return ticks


def parse_rfc1123(value: str) -> datetime | None:
    """An aware datetime for an RFC1123 date such as 'Tue, 19 Nov 2024 10:00:00 GMT'."""
    if not value or not value.strip().endswith("GMT"):
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def format_rfc1123(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
