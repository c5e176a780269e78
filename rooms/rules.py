"""ACS's rules for a room's validity window, checked before anything is written, and where a
window stands relative to now."""

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q, TextChoices
from django.utils import timezone

from rooms.models import MAX_ROOM_LIFETIME, Role

# Every message about the limit says it from here: one number to change if ACS changes it.
MAX_DAYS = MAX_ROOM_LIFETIME.days
END_BEFORE_START = "The room must end after it starts."
TOO_LONG = (
    f"A room can be valid for at most {MAX_DAYS} days: shorten the window or split it into two "
    "rooms."
)
END_IN_PAST = "The end of the window is in the past: ACS refuses rooms that have already ended."
START_TOO_FAR = f"A room can start at most {MAX_DAYS} days from now."
NAIVE_TIME = "Give the time with its time zone."
UNKNOWN_ROLE = "Unknown role {role!r}: choose Presenter, Attendee, Consumer or Collaborator."
TITLE_REQUIRED = "Give the room a title."


def default_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """ACS's own defaults: from now, for MAX_ROOM_LIFETIME."""
    now = now or timezone.now()
    return now, now + MAX_ROOM_LIFETIME


def next_full_hour(now: datetime | None = None) -> datetime:
    """The next full hour in the active (the user's) zone, as a UTC instant."""
    local = timezone.localtime(now or timezone.now())
    # Added in UTC, so a DST change in the next hour cannot produce a skipped wall time.
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC) + timedelta(hours=1)


QUARTER_HOUR = timedelta(minutes=15)


def next_quarter_hour(now: datetime | None = None) -> datetime:
    """The next quarter hour (:00, :15, :30, :45) in the active zone, as a UTC instant.

    Where a new room starts by default: soon enough to be the meeting about to be planned, on a
    time people type and read, and never in the past by the time the form is saved.
    """
    local = timezone.localtime(now or timezone.now())
    floor = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    # Added in UTC, like next_full_hour: a DST change within it cannot give a skipped wall time.
    return floor.astimezone(UTC) + QUARTER_HOUR


def check_window(valid_from: datetime, valid_until: datetime, *, now: datetime | None = None):
    """Raise a ValidationError keyed by field for every rule ACS would refuse the window for."""
    now = now or timezone.now()
    for name, value in (("valid_from", valid_from), ("valid_until", valid_until)):
        if timezone.is_naive(value):
            raise ValidationError({name: NAIVE_TIME})
    errors: dict[str, str] = {}
    # Same precedence as ACS: an end in the past is reported before an inverted window.
    if valid_until <= now:
        errors["valid_until"] = END_IN_PAST
    elif valid_until <= valid_from:
        errors["valid_until"] = END_BEFORE_START
    elif valid_until - valid_from > MAX_ROOM_LIFETIME:
        errors["valid_until"] = TOO_LONG
    if valid_from - now > MAX_ROOM_LIFETIME:
        errors["valid_from"] = START_TOO_FAR
    if errors:
        raise ValidationError(errors)


def check_role(role: str) -> str:
    if role not in Role.values:
        raise ValidationError({"role": UNKNOWN_ROLE.format(role=role)})
    return role


class WindowState(TextChoices):
    """Where a room's validity window stands relative to now: the one wording everywhere."""

    LIVE = "live", "Live"
    UPCOMING = "upcoming", "Upcoming"
    # The value stays "expired": it is in bookmarked list URLs (?state=expired), the admin's
    # ?window=expired and the badge's CSS class. People read the label.
    ENDED = "expired", "Ended"


def window_q(state: str, now: datetime) -> Q:
    """The rooms in that window state at `now`, as a filter."""
    return {
        WindowState.LIVE: Q(valid_from__lte=now, valid_until__gt=now),
        WindowState.UPCOMING: Q(valid_from__gt=now),
        WindowState.ENDED: Q(valid_until__lte=now),
    }[WindowState(state)]


def not_ended_q(now: datetime) -> Q:
    """Live or upcoming rooms at `now`: exactly those window_q(ENDED) leaves out.

    valid_until > now, not ~window_q(ENDED): the same rooms (a room ends after it starts), as a
    range the (valid_until, valid_from) index answers.
    """
    return Q(valid_until__gt=now)


def window_state(valid_from: datetime, valid_until: datetime, now: datetime) -> WindowState:
    """The window state of one room at `now`: the same bounds as window_q."""
    if valid_from > now:
        return WindowState.UPCOMING
    if valid_until <= now:
        return WindowState.ENDED
    return WindowState.LIVE


# --------------------------------------------------------------------------- extending a room

EXTEND_BY = timedelta(days=7)


class ExtendBlocked(TextChoices):
    """Why "Extend by 7 days" cannot apply to a room; the page hides it, the view refuses it."""

    ENDED = "ended", "The room has ended: ACS no longer holds it."
    AT_LIMIT = "at_limit", f"The room already lasts the {MAX_DAYS} days ACS allows."


def extend_blocked(
    valid_from: datetime, valid_until: datetime, now: datetime
) -> ExtendBlocked | None:
    """Why a room cannot be extended at `now`, or None when it can."""
    if window_state(valid_from, valid_until, now) == WindowState.ENDED:
        return ExtendBlocked.ENDED
    if valid_until >= valid_from + MAX_ROOM_LIFETIME:
        return ExtendBlocked.AT_LIMIT
    return None


def extended_until(valid_from: datetime, valid_until: datetime) -> datetime:
    """A room's end once extended: a week later, at most MAX_ROOM_LIFETIME after its start."""
    return min(valid_until + EXTEND_BY, valid_from + MAX_ROOM_LIFETIME)
