"""When a series' occurrences happen: its rule, read by python-dateutil's rrule, in its zone.

The rule runs on wall-clock times in the series' zone, so a 09:00 meeting stays at 09:00
across a daylight saving change; each occurrence is then the UTC instant that wall time names
(the first of a repeated time; a time the clocks skip moves on by the skipped hour, as
calendars do). Pure: no database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil import rrule

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
FREQUENCIES: dict[str, Literal[1, 2, 3]] = {
    DAILY: rrule.DAILY,
    WEEKLY: rrule.WEEKLY,
    MONTHLY: rrule.MONTHLY,
}
# Monthly on the same day of the month (the 14th), or on the same weekday (the second Tuesday).
ON_DAY, ON_WEEKDAY = "day", "weekday"
WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
MAX_INTERVAL = 52
MAX_COUNT = 500


@dataclass(frozen=True)
class Rule:
    """A series' repetition: how often, on which days, until when or how many times."""

    frequency: str
    interval: int = 1
    # Weekly: the days (0 = Monday); empty means the first occurrence's weekday.
    weekdays: tuple[int, ...] = ()
    # Monthly: on the first occurrence's day of the month, or on its weekday of the month.
    monthly_by: str = ON_DAY
    until: date | None = None
    count: int | None = None


@dataclass(frozen=True)
class Occurrence:
    """One occurrence: the instant the rule gave (its key), and its window."""

    key: datetime
    start: datetime
    end: datetime
    local_start: datetime


def week_of_month(day: date) -> int:
    """1 to 4 for the first to fourth such weekday of its month; -1 for a fifth (the last)."""
    n = (day.day - 1) // 7 + 1
    return -1 if n == 5 else n


def to_rrule(rule: Rule, first: datetime) -> rrule.rrule:
    """The dateutil rule from the first occurrence's naive wall-clock start."""
    options: dict = {"dtstart": first, "interval": rule.interval}
    if rule.frequency == WEEKLY:
        options["byweekday"] = [WEEKDAYS[d] for d in (rule.weekdays or (first.weekday(),))]
    elif rule.frequency == MONTHLY:
        if rule.monthly_by == ON_WEEKDAY:
            options["byweekday"] = [WEEKDAYS[first.weekday()](week_of_month(first.date()))]
        else:
            # On the 31st: rrule skips months without one, as calendars do.
            options["bymonthday"] = [first.day]
    if rule.until is not None:
        options["until"] = datetime.combine(rule.until, time.max)
    elif rule.count is not None:
        options["count"] = rule.count
    return rrule.rrule(FREQUENCIES[rule.frequency], **options)


def to_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time: the first of a repeated one; a skipped one moves
    on by the gap (Python's fold=0 reading of a time in a gap)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def occurrences(
    rule: Rule,
    first: datetime,
    zone: ZoneInfo,
    duration: timedelta,
    *,
    start: datetime | None = None,
    before: datetime | None = None,
    limit: int = MAX_COUNT,
) -> Iterator[Occurrence]:
    """The occurrences whose start is at or after `start` and before `before` (UTC), in order."""
    for local in to_rrule(rule, first):
        instant = to_instant(local, zone)
        if before is not None and instant >= before:
            return
        if start is not None and instant < start:
            continue
        yield Occurrence(key=instant, start=instant, end=instant + duration, local_start=local)
        limit -= 1
        if limit <= 0:
            return


def rrule_text(rule: Rule, first: datetime) -> str:
    """The rule as RFC 5545 RRULE text (for the record and for calendars)."""
    return str(to_rrule(rule, first)).split("\n")[-1]


def describe(rule: Rule, first: datetime) -> str:
    """'Every 2 weeks on Monday, Wednesday at 09:00, 10 times' as people say it."""
    unit = {DAILY: "day", WEEKLY: "week", MONTHLY: "month"}[rule.frequency]
    text = f"Every {unit}" if rule.interval == 1 else f"Every {rule.interval} {unit}s"
    if rule.frequency == WEEKLY:
        days = rule.weekdays or (first.weekday(),)
        text += " on " + ", ".join(WEEKDAY_NAMES[d] for d in sorted(days))
    elif rule.frequency == MONTHLY:
        if rule.monthly_by == ON_WEEKDAY:
            ordinal = ORDINALS[week_of_month(first.date())]
            text += f" on the {ordinal} {WEEKDAY_NAMES[first.weekday()]}"
        else:
            text += f" on day {first.day}"
    text += f" at {first:%H:%M}"
    if rule.until is not None:
        text += f", until {rule.until:%a %d %b %Y}"
    elif rule.count is not None:
        text += f", {rule.count} time{'' if rule.count == 1 else 's'}"
    return text
