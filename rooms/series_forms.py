"""The series form: the first occurrence, its length, and how it repeats, as people say it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from identities.models import Identity
from identities.services import NewPerson
from portal import timezones
from portal.services import column_length
from rooms import recurrence, rules
from rooms.forms import LocalDateTimeField, current_zone_name, to_local
from rooms.models import Role, Room, Series
from rooms.recurrence import Rule
from rooms.series import first_local, rule_of

# Lengths offered first; "custom" takes minutes.
LENGTHS = [
    ("30", "30 minutes"),
    ("60", "1 hour"),
    ("90", "1½ hours"),
    ("120", "2 hours"),
    ("240", "4 hours"),
    ("1440", "A day"),
    ("custom", "Custom…"),
]
NEVER, ON_DATE, AFTER = "never", "on", "after"
ENDS = [(NEVER, "Never"), (ON_DATE, "On a date"), (AFTER, "After a number of times")]
FREQUENCY_CHOICES = [
    (recurrence.DAILY, "Daily"),
    (recurrence.WEEKLY, "Weekly"),
    (recurrence.MONTHLY, "Monthly"),
]
WEEKDAY_CHOICES = [(str(i), name) for i, name in enumerate(recurrence.WEEKDAY_NAMES)]
MONTHLY_CHOICES = [
    (recurrence.ON_DAY, "On the same day of the month (the 14th)"),
    (recurrence.ON_WEEKDAY, "On the same weekday of the month (the second Tuesday)"),
]
CUSTOM_LENGTH_REQUIRED = "Give the length in minutes."
UNTIL_REQUIRED = "Give the last day of the series."
COUNT_REQUIRED = "Give how many times it happens."
START_REQUIRED = "Enter when the first occurrence starts."


class SeriesForm(forms.Form):
    title = forms.CharField(
        max_length=column_length(Series, "title"),
        error_messages={"required": rules.TITLE_REQUIRED},
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    starts = LocalDateTimeField(
        label="First occurrence starts", error_messages={"required": START_REQUIRED}
    )
    length = forms.ChoiceField(label="Each lasts", choices=LENGTHS, initial="60")
    custom_minutes = forms.IntegerField(
        label="Minutes",
        required=False,
        min_value=1,
        max_value=int(rules.MAX_ROOM_LIFETIME.total_seconds() // 60),
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=timezones.choices,
        help_text="Occurrences keep their time of day in this zone, across daylight saving.",
        error_messages={"invalid_choice": "Choose a time zone from the list."},
    )
    frequency = forms.ChoiceField(label="Repeats", choices=FREQUENCY_CHOICES, initial="weekly")
    interval = forms.IntegerField(
        label="Every", min_value=1, max_value=recurrence.MAX_INTERVAL, initial=1
    )
    weekdays = forms.MultipleChoiceField(
        label="On",
        required=False,
        choices=WEEKDAY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="Weekly: the days it happens (none: the first occurrence's day).",
    )
    monthly_by = forms.ChoiceField(
        label="Monthly", choices=MONTHLY_CHOICES, initial=recurrence.ON_DAY, required=False
    )
    ends = forms.ChoiceField(label="Ends", choices=ENDS, initial=NEVER)
    until = forms.DateField(
        label="Last day",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    count = forms.IntegerField(
        label="Times", required=False, min_value=1, max_value=recurrence.MAX_COUNT
    )
    pstn_dial_out_enabled = forms.BooleanField(label="PSTN dial-out", required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean() or {}
        zone = timezones.parse(data.get("time_zone"))
        if zone is None and not self.has_error("time_zone"):
            self.add_error("time_zone", "Choose a time zone from the list.")
        if data.get("length") == "custom" and not data.get("custom_minutes"):
            self.add_error("custom_minutes", CUSTOM_LENGTH_REQUIRED)
        if data.get("ends") == ON_DATE and not data.get("until"):
            self.add_error("until", UNTIL_REQUIRED)
        if data.get("ends") == AFTER and not data.get("count"):
            self.add_error("count", COUNT_REQUIRED)
        until = data.get("until")
        if until and not date(1900, 1, 1) <= until <= date(9998, 12, 31):
            self.add_error("until", "Enter a year between 1900 and 9998.")
        return data

    # -- what the services get

    def duration(self) -> timedelta:
        length = self.cleaned_data["length"]
        minutes = self.cleaned_data["custom_minutes"] if length == "custom" else int(length)
        return timedelta(minutes=minutes)

    def rule(self) -> Rule:
        data = self.cleaned_data
        return Rule(
            frequency=data["frequency"],
            interval=data["interval"],
            weekdays=tuple(sorted(int(d) for d in data.get("weekdays") or ())),
            monthly_by=data.get("monthly_by") or recurrence.ON_DAY,
            until=data["until"] if data["ends"] == ON_DATE else None,
            count=data["count"] if data["ends"] == AFTER else None,
        )

    def zone_name(self) -> str:
        zone = timezones.parse(self.cleaned_data["time_zone"])
        assert zone is not None  # clean() refused anything else
        return zone.key

    def series_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "notes": data["notes"],
            "pstn_dial_out_enabled": data["pstn_dial_out_enabled"],
            "time_zone": self.zone_name(),
            "first_start": data["starts"],
            "duration": self.duration(),
            "rule": self.rule(),
        }

    def add_service_error(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        where = {"first_start": "starts", "duration": "length", "first_day": "starts"}
        for name, errors in exc.error_dict.items():
            field = where.get(name, name)
            self.add_error(field if field in self.fields else None, errors)


def _length_choice(duration: timedelta) -> tuple[str, int | None]:
    minutes = int(duration.total_seconds() // 60)
    if str(minutes) in dict(LENGTHS):
        return str(minutes), None
    return "custom", minutes


def new_series_initial(now: datetime | None = None) -> dict:
    """A new series: weekly from the next full hour in the user's zone, an hour each."""
    zone_name = current_zone_name()
    start = to_local(rules.next_full_hour(now), ZoneInfo(zone_name))
    return {
        "starts": start,
        "time_zone": zone_name,
        "length": "60",
        "frequency": recurrence.WEEKLY,
        "interval": 1,
        "weekdays": [str(start.weekday())],
        "ends": NEVER,
    }


def series_initial(series: Series, occurrence: Room | None = None) -> dict:
    """The edit form: the series as it is (from an occurrence on: its day as the first)."""
    rule = rule_of(series)
    first = first_local(series)
    if occurrence is not None and occurrence.occurrence is not None:
        day = occurrence.occurrence.astimezone(ZoneInfo(series.time_zone)).date()
        first = datetime.combine(day, first.time())
    length, minutes = _length_choice(series.duration)
    return {
        "title": series.title,
        "notes": series.notes,
        "pstn_dial_out_enabled": series.pstn_dial_out_enabled,
        "starts": first,
        "time_zone": series.time_zone,
        "length": length,
        "custom_minutes": minutes,
        "frequency": rule.frequency,
        "interval": rule.interval,
        "weekdays": [str(d) for d in rule.weekdays],
        "monthly_by": rule.monthly_by,
        "ends": ON_DATE if rule.until else AFTER if rule.count else NEVER,
        "until": rule.until,
        "count": rule.count,
        "version": series.version,
    }


class RosterAddForm(forms.Form):
    """Someone to add to the series: by e-mail (made on the fly if the portal has no one)."""

    name = forms.CharField(max_length=column_length(Identity, "display_name"))
    email = forms.EmailField(max_length=column_length(Identity, "email"))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ATTENDEE)

    def person(self) -> NewPerson:
        return NewPerson(self.cleaned_data["name"], self.cleaned_data["email"])
