"""Input checks every endpoint shares: ids, times and JSON bodies the database can hold."""

import json
from datetime import UTC, date, datetime
from typing import Annotated

from django.http import HttpRequest
from pydantic import AfterValidator, AwareDatetime, Field

from portal.ids import MAX_ID

# Ids a row could have: a bigger number reaches the database as an overflow.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _convertible(value: datetime) -> datetime:
    """The instant in UTC, within years 1900-9998 (the room form's range) either way.

    Every zone can convert those years; year 1 or 9999 in another zone overflows on the way to
    UTC. And PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 and Python allow (-21:18).
    """
    if not 1900 <= value.year <= 9998:
        raise ValueError("must be between the years 1900 and 9998")
    value = value.astimezone(UTC)
    if not 1900 <= value.year <= 9998:
        raise ValueError("must be between the years 1900 and 9998")
    return value


def _in_calendar(value: date) -> date:
    # A day of year 1 or 9999 has neighbours (the next midnight) Python cannot hold.
    if not 1900 <= value.year <= 9998:
        raise ValueError("must be between the years 1900 and 9998")
    return value


Day = Annotated[date, AfterValidator(_in_calendar)]

# A time with its offset: a bare local time would be read in whatever zone the server uses.
Instant = Annotated[AwareDatetime, AfterValidator(_convertible)]


def _nul_path(value, path: str = "") -> str | None:
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_path(key, path) or _nul_path(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


def body_problem(request: HttpRequest) -> tuple[str, str | None] | None:
    """What is wrong with a request's JSON body, as (message, field), or None.

    Checked before the endpoint runs: ninja would answer a bare "Cannot parse request body",
    and a NUL inside a JSON string passes every type check on its way to a query.
    """
    if not request.body or request.content_type != "application/json":
        return None
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError) as exc:
        return f"The body is not valid JSON: {str(exc)[:200]}", None
    if not isinstance(data, dict):
        return "The body must be a JSON object.", None
    where = _nul_path(data)
    if where:
        return f"{where} contains a NUL character, which cannot be stored; remove it.", where
    return None
