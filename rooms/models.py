"""ACS rooms and their participants, as the portal holds them; ACS is made to match."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from outbox.fields import SyncRelation

MAX_ROOM_LIFETIME = timedelta(days=180)


class Role(models.TextChoices):
    PRESENTER = "Presenter", "Presenter"
    ATTENDEE = "Attendee", "Attendee"
    CONSUMER = "Consumer", "Consumer"
    COLLABORATOR = "Collaborator", "Collaborator"


class Series(models.Model):
    """A room that repeats: each occurrence is a Room of its own (ACS has no series).

    The rule runs on wall-clock times in `time_zone` (rooms.recurrence), so 09:00 stays 09:00
    across daylight saving changes. Occurrences are made ahead over a rolling horizon
    (SERIES_HORIZON_DAYS) by the worker (rooms.series.series_roll). The roster here is what
    each new occurrence starts with; changes to it reach the occurrences they name.
    """

    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    pstn_dial_out_enabled = models.BooleanField("PSTN dial-out", default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_series"
    )
    time_zone = models.CharField(max_length=64)
    # The first occurrence's day and every occurrence's wall-clock start in time_zone, and
    # every occurrence's length.
    first_day = models.DateField()
    start_time = models.TimeField()
    duration = models.DurationField()
    frequency = models.CharField(max_length=8)
    interval = models.PositiveSmallIntegerField(default=1)
    # Weekly: the days, 0 = Monday ("0,2,4"); empty means the first occurrence's weekday.
    weekdays = models.CharField(max_length=20, blank=True)
    monthly_by = models.CharField(max_length=8, blank=True)
    until = models.DateField(null=True, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True)
    # Occurrences taken out one by one (their keys, ISO UTC): never made again.
    skipped = models.JSONField(default=list, blank=True)
    # Occurrences are made up to here (UTC); the next roll starts after it.
    made_until = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            models.CheckConstraint(condition=Q(interval__gte=1), name="series_interval_positive"),
            models.CheckConstraint(
                condition=Q(duration__gt=timedelta(0)) & Q(duration__lte=MAX_ROOM_LIFETIME),
                name="series_duration_in_range",
                violation_error_message=(
                    f"An occurrence can last at most {MAX_ROOM_LIFETIME.days} days."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def first_start(self) -> datetime:
        """The first occurrence's naive wall-clock start in the series' zone."""
        return datetime.combine(self.first_day, self.start_time)

    @first_start.setter
    def first_start(self, value: datetime) -> None:
        self.first_day = value.date()
        self.start_time = value.time().replace(second=0, microsecond=0, tzinfo=None)


class SeriesParticipant(models.Model):
    """Someone every new occurrence of the series starts with, and their role."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="roster")
    identity = models.ForeignKey(
        "identities.Identity", on_delete=models.CASCADE, related_name="series_places"
    )
    role = models.CharField(max_length=16, choices=Role, default=Role.ATTENDEE)

    class Meta:
        ordering = ["series", "identity__display_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "identity"],
                name="series_participant_once",
                violation_error_message="This person is already in the series.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identity} in {self.series} as {self.role}"


class Room(models.Model):
    # Blank until ACS has created the room: ACS chooses the id.
    acs_id = models.CharField("ACS id", max_length=32, unique=True, null=True, blank=True)
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    pstn_dial_out_enabled = models.BooleanField("PSTN dial-out", default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_rooms"
    )
    # Bumped by every edit; an editor sends the version it saw, so a stale edit is refused.
    version = models.PositiveIntegerField(default=1)
    # Set when the portal deleted the room: the row stays as a tombstone until ACS confirms.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # An occurrence of a series: which one (the instant its rule gave, kept when it is moved).
    series = models.ForeignKey(
        Series, on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    occurrence = models.DateTimeField(null=True, blank=True)
    # Where the room stands with ACS (outbox.models.Entry): state, error, next try, what ACS
    # confirmed. The outbox writes it; lists read it with select_related("sync").
    sync = SyncRelation("room")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["valid_from", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")),
                name="room_valid_until_after_valid_from",
                violation_error_message="The room must end after it starts.",
            ),
            models.UniqueConstraint(
                fields=["series", "occurrence"],
                condition=Q(deleted_at__isnull=True),
                name="room_occurrence_once",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__lte=F("valid_from") + MAX_ROOM_LIFETIME),
                name="room_at_most_180_days",
                violation_error_message=(
                    f"A room can be valid for at most {MAX_ROOM_LIFETIME.days} days."
                ),
            ),
        ]
        indexes = [
            models.Index(fields=["valid_until", "valid_from"]),
            # Lists in start order (valid_from, then id, as the rooms list and the admin sort)
            # read this instead of sorting; with deleted_at, title and acs_id in it, counting
            # live rooms and searching their titles read this narrow index, not the wide rows
            # (SQLite, 10,000 rooms: the search COUNT 15 -> 3.5 ms, the last page 19 -> 1 ms).
            models.Index(
                fields=["valid_from", "id", "deleted_at", "title", "acs_id"],
                name="room_list_order",
            ),
            # Live rooms by end, then start (index-only): the dashboard's live and ended cards
            # read a few in order, and its today card ranges over valid_until.
            models.Index(
                fields=["valid_until", "id", "valid_from"],
                condition=Q(deleted_at__isnull=True),
                name="room_live_by_end",
            ),
            # Live rooms by start, with their end (index-only): the today card walks rooms by
            # start and skips the ones that ended before the day without reading their rows.
            models.Index(
                fields=["valid_from", "id", "valid_until"],
                condition=Q(deleted_at__isnull=True),
                name="room_live_by_start",
            ),
            # The deleted rows only: a full index made the planner (SQLite, without statistics)
            # pick it for `deleted_at IS NULL`, which matches nearly every row.
            models.Index(
                fields=["deleted_at"],
                condition=Q(deleted_at__isnull=False),
                name="room_tombstones",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Participant(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    identity = models.ForeignKey(
        "identities.Identity", on_delete=models.CASCADE, related_name="participations"
    )
    role = models.CharField(max_length=16, choices=Role, default=Role.ATTENDEE)
    added_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["room", "identity__display_name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "identity"],
                name="participant_once_per_room",
                violation_error_message="This person is already in the room.",
            ),
            models.CheckConstraint(
                condition=Q(role__in=Role.values),
                name="participant_role_valid",
                violation_error_message="Unknown role.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identity} in {self.room} as {self.role}"
