"""The room form: a window typed as wall-clock times in a chosen zone, checked by ACS's rules."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.utils import ErrorList, pretty_name
from django.http import QueryDict
from django.utils import timezone

from portal import timezones
from portal.services import column_length
from rooms import rules
from rooms.models import Room
from rooms.services import ROOM_FIELDS

# What <input type="datetime-local"> sends and shows (browsers add seconds only when asked).
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
_INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
WINDOW_FIELDS = ("valid_from", "valid_until", "time_zone", "length")
DEFAULT_LENGTH = timedelta(hours=1)

# The lengths the picker beside Ends offers: choosing one sets Ends = Starts + length, and Ends
# then follows Starts. Custom leaves Ends as typed. Keys are minutes (room-form.js reads them).
LENGTHS = {
    "30": ("30 minutes", timedelta(minutes=30)),
    "60": ("1 hour", timedelta(hours=1)),
    "120": ("2 hours", timedelta(hours=2)),
    "1440": ("A day", timedelta(days=1)),
}
CUSTOM = "custom"
LENGTH_CHOICES = [*((key, label) for key, (label, _) in LENGTHS.items()), (CUSTOM, "Custom")]
LENGTH_HELP = (
    "Sets Ends from Starts; Ends keeps the length as Starts moves. Type an Ends for Custom."
)
UNKNOWN_LENGTH = "Choose a length from the list, or Custom."

BAD_TIME = "Enter a date and time, such as 2026-11-21 14:00."
MIN_YEAR, MAX_YEAR = 1900, 9998
YEAR_OUT_OF_RANGE = f"Enter a year between {MIN_YEAR} and {MAX_YEAR}."
START_REQUIRED = "Enter when the room opens."
END_REQUIRED = "Enter when the room closes."
UNKNOWN_ZONE = "Choose a time zone from the list."
SKIPPED_TIME = (
    "{time} does not exist in {zone}: the clocks skip forward that night. "
    "Choose a time outside the skipped hour."
)
REPEATED_TIME = (
    "{time} happens twice in {zone} that night; this is the first time ({abbr}), "
    "before the clocks go back."
)
WINDOW_HELP = f"A room can be valid for at most {rules.MAX_DAYS} days; ACS refuses longer windows."
PSTN_HELP = "Let participants dial out to phone numbers"
VERSION_LOST = "The form lost the room's version: reload the page and make your change again."

_TIMES = ("valid_from", "valid_until")


# --------------------------------------------------------------------------- times and zones


def to_instant(local: datetime, zone: ZoneInfo) -> tuple[datetime, str]:
    """The UTC instant a wall-clock time in `zone` names, and a note when that time is repeated.

    A time the clocks skip (spring forward) names no instant: refused. A time the clocks repeat
    (fall back) names two: the first one is taken, always, and the note says so.
    """
    first = local.replace(tzinfo=zone, fold=0)
    # A skipped time does not survive the round trip through UTC: it comes back an hour later.
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise ValidationError(
            SKIPPED_TIME.format(time=_wall(local), zone=zone.key), code="skipped_time"
        )
    note = ""
    if first.utcoffset() != local.replace(tzinfo=zone, fold=1).utcoffset():
        note = REPEATED_TIME.format(time=_wall(local), zone=zone.key, abbr=first.tzname())
    return first.astimezone(UTC), note


def _wall(local: datetime) -> str:
    return local.strftime("%Y-%m-%d %H:%M")


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time a datetime-local input shows for `instant` in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)


def current_zone_name() -> str:
    """The active zone (the user's) if the select offers it, else UTC."""
    name = timezone.get_current_timezone_name()
    return name if timezones.parse(name) is not None else "UTC"


def describe_duration(length: timedelta) -> str:
    """'Lasts 2 hours (limit 180 days)', or what is wrong with the length."""
    if length <= timedelta(0):
        return f"Ends before it starts (limit {rules.MAX_DAYS} days)"
    minutes = int(length.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{count} {unit}{'' if count == 1 else 's'}"
        for count, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if count
    ]
    text = " ".join(parts) or "less than a minute"
    if length > rules.MAX_ROOM_LIFETIME:
        return f"Lasts {text}: longer than the limit of {rules.MAX_DAYS} days"
    return f"Lasts {text} (limit {rules.MAX_DAYS} days)"


# --------------------------------------------------------------------------- a conflict


def conflict_rows(submitted: dict, current: Room) -> list[dict]:
    """Where the current room differs from what the editor submitted, as rows a template shows.

    `before` is the room's value now, `after` the editor's: what saving again would change.
    """
    rows = []
    for name in ROOM_FIELDS:
        now, theirs = getattr(current, name), submitted.get(name)
        if now == theirs:
            continue
        label = RoomForm.base_fields[name].label or pretty_name(name)
        row = {"field": name, "label": label, "is_time": name in _TIMES}
        row["before"], row["after"] = _shown(now), _shown(theirs)
        rows.append(row)
    return rows


def _shown(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return "(empty)" if value in ("", None) else value


def length_choice(length: timedelta) -> str:
    """The picker's entry for a window this long: a preset's key, or Custom."""
    return next((key for key, (_, preset) in LENGTHS.items() if preset == length), CUSTOM)


def new_room_initial(now: datetime | None = None) -> dict:
    """A new room's form: from the next quarter hour in the user's zone, for one hour."""
    zone_name = current_zone_name()
    zone = ZoneInfo(zone_name)
    start = rules.next_quarter_hour(now)
    return {
        "valid_from": to_local(start, zone),
        "valid_until": to_local(start + DEFAULT_LENGTH, zone),
        "time_zone": zone_name,
    }


def copy_initial(copy) -> dict:
    """The new-room form filled in from a copy of a room (services.RoomCopy), in the user's zone."""
    zone_name = current_zone_name()
    zone = ZoneInfo(zone_name)
    return {
        "title": copy.title,
        "notes": copy.notes,
        "valid_from": to_local(copy.valid_from, zone),
        "valid_until": to_local(copy.valid_until, zone),
        "time_zone": zone_name,
        "pstn_dial_out_enabled": copy.pstn_dial_out_enabled,
    }


def room_initial(room: Room) -> dict:
    """The edit form of a room, its times in the user's zone."""
    zone_name = current_zone_name()
    zone = ZoneInfo(zone_name)
    return {
        "title": room.title,
        "notes": room.notes,
        "valid_from": to_local(room.valid_from, zone),
        "valid_until": to_local(room.valid_until, zone),
        "time_zone": zone_name,
        "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
        "version": room.version,
    }


# --------------------------------------------------------------------------- the form


class LocalDateTimeField(forms.Field):
    """A wall-clock time with no zone: the form's clean() applies the zone chosen beside it."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL_FORMAT)
    default_error_messages = {"invalid": BAD_TIME}

    def to_python(self, value):
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        value = (value or "").strip()
        if not value:
            return None
        for fmt in _INPUT_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
            except ValueError:
                continue
            # Years 1 and 9999 have no instant in some zones (Python's datetime ends there).
            if not MIN_YEAR <= parsed.year <= MAX_YEAR:
                raise ValidationError(YEAR_OUT_OF_RANGE, code="year_out_of_range")
            return parsed
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class HiddenLocalTime(forms.DateTimeInput):
    input_type = "hidden"


class ShownTimeField(LocalDateTimeField):
    """A time as the page showed it (hidden): tells a changed field from one left alone.

    Only the page writes it; anything unreadable counts as not shown, never as an error.
    """

    widget = HiddenLocalTime(format=LOCAL_FORMAT)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            return None


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def _described_by(name: str, *extra: str) -> dict:
    ids = [f"id_{name}_errors", *extra]
    return {"aria-describedby": " ".join(ids)}


class RoomForm(forms.Form):
    title = forms.CharField(
        max_length=column_length(Room, "title"),
        error_messages={"required": rules.TITLE_REQUIRED},
        widget=forms.TextInput(attrs=_described_by("title")),
    )
    notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, **_described_by("notes")}),
    )
    valid_from = LocalDateTimeField(
        label="Starts",
        error_messages={"required": START_REQUIRED},
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", **_described_by("valid_from", "id_valid_from_utc")},
            format=LOCAL_FORMAT,
        ),
    )
    valid_until = LocalDateTimeField(
        label="Ends",
        help_text=WINDOW_HELP,
        # Not required by the field: with a length chosen, an empty Ends is Starts + length.
        required=False,
        widget=forms.DateTimeInput(
            attrs={
                "type": "datetime-local",
                **_described_by(
                    "valid_until", "id_valid_until_utc", "id_valid_until_help", "id_duration"
                ),
            },
            format=LOCAL_FORMAT,
        ),
    )
    length = forms.ChoiceField(
        label="Length",
        choices=LENGTH_CHOICES,
        required=False,
        help_text=LENGTH_HELP,
        error_messages={"invalid_choice": UNKNOWN_LENGTH},
        widget=forms.Select(attrs=_described_by("length", "id_length_help")),
    )
    # Starts and Ends as the page showed them: an Ends left alone follows Starts (see clean()).
    shown_valid_from = ShownTimeField(required=False)
    shown_valid_until = ShownTimeField(required=False)
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=timezones.choices,
        help_text="The zone the start and end times are in.",
        error_messages={"required": UNKNOWN_ZONE, "invalid_choice": UNKNOWN_ZONE},
        widget=forms.Select(attrs=_described_by("time_zone", "id_time_zone_help")),
    )
    pstn_dial_out_enabled = forms.BooleanField(
        label="PSTN dial-out",
        required=False,
        help_text=PSTN_HELP,
        widget=forms.CheckboxInput(attrs={"aria-describedby": "id_pstn_dial_out_enabled_help"}),
    )
    # The version the editor loaded: a save over a newer one is refused as a conflict.
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, room: Room | None = None, touched: set[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.touched = touched
        self.instants: dict[str, datetime] = {}
        self.time_notes: dict[str, str] = {}
        # The room edited, as it is now: a time the editor left alone keeps its instant.
        self.original = {name: getattr(room, name) for name in _TIMES} if room else None
        if not self.is_bound:
            self.initial = self._initial_with_length(self.initial)
            self._preview_initial()

    @staticmethod
    def _initial_with_length(initial: Mapping[str, Any]) -> dict[str, Any]:
        """The length that matches the window, and the times as shown, for a fresh form."""
        start, end = initial.get("valid_from"), initial.get("valid_until")
        if not (isinstance(start, datetime) and isinstance(end, datetime)):
            return dict(initial)
        return {
            "length": length_choice(end - start),
            "shown_valid_from": start,
            "shown_valid_until": end,
            **initial,
        }

    # -- validation

    def clean(self):
        super().clean()
        data = self.cleaned_data
        self._end_follows_start(data)
        if data.get("valid_until") is None and not self.has_error("valid_until"):
            self.add_error("valid_until", END_REQUIRED)
        self._show_as_understood(data)
        zone = timezones.parse(data.get("time_zone"))
        if zone is None:
            if not self.has_error("time_zone"):
                self.add_error("time_zone", UNKNOWN_ZONE)
            return data
        for name in _TIMES:
            local = data.get(name)
            if local is None:
                continue
            try:
                instant = self._as_instant(name, local, zone)
            except ValidationError as exc:
                self.add_error(name, exc)
                continue
            data[name] = self.instants[name] = instant
        if set(_TIMES) <= self.instants.keys() and not self._window_unchanged():
            # A changed window is the one typed, in whole minutes: an untouched end keeping its
            # seconds beside a new start would make "Lasts 59 minutes" of an hour.
            for name in _TIMES:
                if name in data:
                    data[name] = self.instants[name] = self.instants[name].replace(
                        second=0, microsecond=0
                    )
            try:
                rules.check_window(self.instants["valid_from"], self.instants["valid_until"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return data

    def _end_follows_start(self, data: dict) -> None:
        """Ends as the user meant it, in wall-clock time (as room-form.js computes it).

        An Ends the user typed (it differs from the one the page showed) is kept. Otherwise,
        with a length chosen, Ends is Starts + that length; with Custom, an Ends left alone
        moves with Starts, keeping the window's length. So without JavaScript moving Starts, or
        choosing a length, still gives the window meant; and the live check, which may see
        Starts moved before Ends, never complains that the room ends before it starts.
        """
        start, end = data.get("valid_from"), data.get("valid_until")
        if start is None or self.has_error("valid_until") or self.has_error("length"):
            return
        shown_start, shown_end = data.get("shown_valid_from"), data.get("shown_valid_until")
        if end is not None and (shown_end is None or _minute(end) != _minute(shown_end)):
            return  # typed by the user: theirs
        preset = LENGTHS.get(data.get("length") or "")
        if preset is not None:
            data["valid_until"] = start + preset[1]
        elif end is not None and shown_start is not None:
            data["valid_until"] = end + (_minute(start) - _minute(shown_start))

    def _show_as_understood(self, data: dict) -> None:
        """A form shown again shows the window it understood: Ends as computed, the length
        that matches, and these as the times shown (so the next post compares with them)."""
        start, end = data.get("valid_from"), data.get("valid_until")
        posted = self.data
        shown = posted.copy() if isinstance(posted, QueryDict) else dict(posted)
        if start is not None:
            shown["shown_valid_from"] = start.strftime(LOCAL_FORMAT)
        if end is not None:
            shown["valid_until"] = shown["shown_valid_until"] = end.strftime(LOCAL_FORMAT)
        if start is not None and end is not None and not self.has_error("length"):
            shown["length"] = length_choice(_minute(end) - _minute(start))
        self.data = shown

    def _as_instant(self, name: str, local: datetime, zone: ZoneInfo) -> datetime:
        original = (self.original or {}).get(name)
        # An untouched time keeps its instant: the input shows whole minutes only, and a repeated
        # wall time would otherwise move a room that starts at its second occurrence.
        if original is not None and to_local(original, zone) == local.replace(
            second=0, microsecond=0
        ):
            return original
        instant, note = to_instant(local, zone)
        if note:
            self.time_notes[name] = note
        return instant

    def _window_unchanged(self) -> bool:
        # Like room_update, which checks the window only when it changes: an ended room can still
        # get a new title.
        return self.original is not None and all(
            self.original[name] == self.instants[name] for name in _TIMES
        )

    def _preview_initial(self) -> None:
        zone = timezones.parse(self.initial.get("time_zone"))
        if zone is None:
            return
        for name in _TIMES:
            local = self.initial.get(name)
            if isinstance(local, datetime):
                try:
                    self.instants[name] = to_instant(local.replace(tzinfo=None), zone)[0]
                except ValidationError:
                    continue

    def add_service_error(self, exc: ValidationError) -> None:
        """Show a service's ValidationError beside its field, or at the top."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, errors in exc.error_dict.items():
            visible = name in self.fields and not self.fields[name].widget.is_hidden
            self.add_error(name if visible else None, errors)

    # -- what the services get

    def room_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ROOM_FIELDS}

    # -- what the template shows

    @property
    def visible_errors(self) -> dict[str, ErrorList]:
        """Errors to show: all of them, or (live checks) only those of fields the user changed.

        The window's fields count as one: moving the start can make the end wrong.
        """
        errors: dict[str, ErrorList] = dict(self.errors) if self.is_bound else {}
        if not self.touched:
            return errors
        shown = set(self.touched)
        if shown & set(WINDOW_FIELDS):
            shown |= set(WINDOW_FIELDS)
        return {name: errs for name, errs in errors.items() if name in shown}

    @property
    def top_errors(self) -> list[str]:
        """Errors that belong to no visible field: the form's own and its hidden fields'."""
        if not self.is_bound:
            return []
        return [
            str(error)
            for name in (NON_FIELD_ERRORS, "version")
            for error in self.errors.get(name, [])
        ]

    @property
    def previews(self) -> dict[str, str]:
        """Each time as the UTC instant it will be stored as: '= 2026-11-21 13:00 UTC'."""
        if self.is_bound:
            _ = self.errors  # runs clean(), which fills self.instants
        return {
            name: "= " + instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            for name, instant in self.instants.items()
        }

    @property
    def duration_text(self) -> str:
        if self.is_bound:
            _ = self.errors
        if not set(_TIMES) <= self.instants.keys():
            return ""
        return describe_duration(self.instants["valid_until"] - self.instants["valid_from"])
