"""The only writers of series: create, roll the horizon, change the roster, edit, skip, cancel.

Each occurrence is a Room of its own (ACS has no series), made ahead over a rolling horizon
(SERIES_HORIZON_DAYS) by series_roll, which the worker runs. Rooms are written as the room
services write them: saved (their signal marks them for a push), participants in bulk with one
mark per room, so each affected ACS room gets one participants PATCH however many people
changed. An occurrence edited on its own (the room page) no longer matches the series, and
edits of the series leave it alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from identities.models import Identity
from identities.services import NewPerson, identities_find_or_create
from portal import audit, timezones
from portal.services import Conflict, require
from rooms import recurrence, rules
from rooms.models import MAX_ROOM_LIFETIME, Participant, Role, Room, Series, SeriesParticipant
from rooms.recurrence import Occurrence, Rule
from rooms.services import (
    GIVE_ROLES,
    ParticipantEntry,
    _clean_notes,
    _clean_title,
    added_event,
    removed_event,
    role_changed_event,
)
from rooms.services import (
    _snapshot as room_snapshot,
)
from rooms.sync import mark_room_dirty

STALE_SERIES = "Someone else changed this series while you were editing it."
SERIES_GONE = "This series has been cancelled."
NO_OCCURRENCE = "The rule gives no occurrence that has not ended: check the start and the end."
BAD_DURATION = f"An occurrence must last more than a minute and at most {rules.MAX_DAYS} days."
BAD_INTERVAL = f"Repeat every 1 to {recurrence.MAX_INTERVAL} days, weeks or months."
BAD_COUNT = f"A series can have 1 to {recurrence.MAX_COUNT} occurrences."
UNTIL_BEFORE_START = "The series must end on or after its first day."
BAD_FREQUENCY = "Choose daily, weekly or monthly."
BAD_WEEKDAYS = "Choose the days of the week it repeats on."
NOT_AN_OCCURRENCE = "That room is not an occurrence of this series."
ALREADY_STARTED = "That occurrence has started: it cannot be moved or cancelled from the series."
ALREADY_IN_SERIES = "{person} is already in the series."
NOT_IN_SERIES = "{person} is not in the series."
NOTHING_TO_CHANGE = "Choose at least one change to the roster."

SERIES_FIELDS = (
    "title",
    "notes",
    "pstn_dial_out_enabled",
    "time_zone",
    "first_day",
    "start_time",
    "duration",
    "frequency",
    "interval",
    "weekdays",
    "monthly_by",
    "until",
    "count",
)


def horizon() -> timedelta:
    return timedelta(days=settings.SERIES_HORIZON_DAYS)


# --------------------------------------------------------------------------- reading a series


def rule_of(series: Series) -> Rule:
    return Rule(
        frequency=series.frequency,
        interval=series.interval,
        weekdays=tuple(int(d) for d in series.weekdays.split(",") if d),
        monthly_by=series.monthly_by or recurrence.ON_DAY,
        until=series.until,
        count=series.count,
    )


def zone_of(series: Series) -> ZoneInfo:
    return ZoneInfo(series.time_zone)


def first_local(series: Series) -> datetime:
    """The first start as a naive wall-clock time in the series' zone."""
    return series.first_start


def expected(
    series: Series, *, start: datetime | None = None, before: datetime | None = None
) -> list[Occurrence]:
    """The series' occurrences from `start` to `before` (UTC), skipped ones left out."""
    skipped = set(series.skipped or [])
    return [
        occurrence
        for occurrence in recurrence.occurrences(
            rule_of(series),
            first_local(series),
            zone_of(series),
            series.duration,
            start=start,
            before=before,
        )
        if occurrence.key.isoformat() not in skipped
    ]


def describe(series: Series) -> str:
    return recurrence.describe(rule_of(series), first_local(series))


def rrule_text(series: Series) -> str:
    return recurrence.rrule_text(rule_of(series), first_local(series))


def _snapshot(series: Series) -> dict:
    """The series' fields as the history shows them: a length in words, a time as HH:MM."""
    values = {name: getattr(series, name) for name in SERIES_FIELDS}
    values["duration"] = length_text(series.duration)
    values["start_time"] = f"{series.start_time:%H:%M}"
    values["weekdays"] = ", ".join(
        recurrence.WEEKDAY_NAMES[int(d)] for d in series.weekdays.split(",") if d.isdigit()
    )
    return values


def length_text(duration: timedelta) -> str:
    """'1 hour 30 minutes', '2 days'."""
    minutes = int(duration.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{count} {unit}{'' if count == 1 else 's'}"
        for count, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if count
    ]
    return " ".join(parts) or "less than a minute"


def scope_text(series: Series, scope_from: datetime | None) -> str:
    if scope_from is None:
        return "all occurrences"
    return f"from the occurrence of {scope_from.astimezone(zone_of(series)):%a %d %b %Y} on"


# --------------------------------------------------------------------------- checking


def check_series(series: Series, *, now: datetime | None = None) -> None:
    """Raise a ValidationError keyed by field for anything the series cannot be."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    if series.frequency not in recurrence.FREQUENCIES:
        errors["frequency"] = BAD_FREQUENCY
    if not 1 <= (series.interval or 0) <= recurrence.MAX_INTERVAL:
        errors["interval"] = BAD_INTERVAL
    if series.count is not None and not 1 <= series.count <= recurrence.MAX_COUNT:
        errors["count"] = BAD_COUNT
    if series.until is not None and series.until < first_local(series).date():
        errors["until"] = UNTIL_BEFORE_START
    if not timedelta(minutes=1) <= series.duration <= MAX_ROOM_LIFETIME:
        errors["duration"] = BAD_DURATION
    if timezones.parse(series.time_zone) is None:
        errors["time_zone"] = "Choose a time zone from the list."
    try:
        days = [int(d) for d in series.weekdays.split(",") if d]
    except ValueError:
        days = [-1]
    if any(not 0 <= d <= 6 for d in days) or len(days) != len(set(days)):
        errors["weekdays"] = BAD_WEEKDAYS
    if errors:
        raise ValidationError(errors)
    upcoming = expected(series, start=now - series.duration, before=now + MAX_ROOM_LIFETIME * 2)
    if not any(occurrence.end > now for occurrence in upcoming):
        raise ValidationError(NO_OCCURRENCE)


def _check_roles(actor, entries: Iterable[ParticipantEntry]) -> None:
    for entry in entries:
        rules.check_role(entry.role)
    if any(entry.role != Role.ATTENDEE for entry in entries):
        require(actor, *GIVE_ROLES)


# --------------------------------------------------------------------------- creating


def series_create(
    *,
    actor,
    title: str,
    time_zone: str,
    first_start: datetime,
    duration: timedelta,
    rule: Rule,
    notes: str = "",
    pstn_dial_out_enabled: bool = False,
    participants: Iterable[ParticipantEntry] = (),
) -> Series:
    """A new series and its roster; its occurrences are made by the worker (series_roll)."""
    require(actor, "rooms.add_room", "create rooms")
    entries = list(participants)
    _check_roles(actor, entries)
    series = Series(
        title=_clean_title(title),
        notes=_clean_notes(notes),
        pstn_dial_out_enabled=bool(pstn_dial_out_enabled),
        owner=actor,
        time_zone=time_zone,
        duration=duration,
        **_rule_fields(rule),
    )
    series.first_start = first_start.replace(tzinfo=None)
    check_series(series)
    series.full_clean()
    with transaction.atomic():
        series.save()
        events = [
            audit.event(
                action="portal.series.created",
                actor=actor,
                target=series,
                changes={
                    **audit.diff({}, _snapshot(series)),
                    "rule": {"before": None, "after": describe(series)},
                },
            )
        ]
        _roster_add(actor, series, entries, events)
        audit.append(events)
        transaction.on_commit(lambda: enqueue_roll(series.pk))
    return series


def _rule_fields(rule: Rule) -> dict:
    return {
        "frequency": rule.frequency,
        "interval": rule.interval,
        "weekdays": ",".join(str(d) for d in sorted(rule.weekdays)),
        "monthly_by": rule.monthly_by if rule.frequency == recurrence.MONTHLY else "",
        "until": rule.until,
        "count": None if rule.until is not None else rule.count,
    }


def _people(actor, entries: list[ParticipantEntry], events: list) -> list[tuple[Identity, str]]:
    new_people = [entry.person for entry in entries if isinstance(entry.person, NewPerson)]
    made = iter(
        identities_find_or_create(actor=actor, people=new_people, events=events)
        if new_people
        else []
    )
    people = [
        (entry.person if isinstance(entry.person, Identity) else next(made), entry.role)
        for entry in entries
    ]
    seen: set[int] = set()
    for identity, _ in people:
        if identity.deleted_at is not None:
            raise ValidationError(f"{identity} has been deleted.")
        if identity.pk in seen:
            raise ValidationError(f"{identity} is listed twice.")
        seen.add(identity.pk)
    return people


def _roster_add(actor, series: Series, entries: list[ParticipantEntry], events: list) -> dict:
    """Add people to the roster; returns identity id → role of those added."""
    people = _people(actor, entries, events)
    present = set(
        SeriesParticipant.objects.filter(
            series=series, identity__in=[i for i, _ in people]
        ).values_list("identity_id", flat=True)
    )
    for identity, _ in people:
        if identity.pk in present:
            raise ValidationError(ALREADY_IN_SERIES.format(person=identity))
    SeriesParticipant.objects.bulk_create(
        [SeriesParticipant(series=series, identity=i, role=role) for i, role in people]
    )
    return {identity.pk: role for identity, role in people}


# --------------------------------------------------------------------------- the horizon


@task()
def series_roll_task(series_pk: int) -> int:
    """The worker makes a new or changed series' occurrences (series_roll_due keeps rolling)."""
    return len(series_roll(series_pk))


def enqueue_roll(series_pk: int) -> None:
    series_roll_task.enqueue(series_pk)


def series_roll(series: Series | int, *, now: datetime | None = None) -> list[Room]:
    """Make the occurrences up to the horizon that are not made yet; returns the new rooms.

    Only after the series' high-water mark (made_until): an occurrence made once and then
    deleted is never made again.
    """
    now = now or timezone.now()
    pk = series.pk if isinstance(series, Series) else series
    with transaction.atomic():
        current = Series.objects.select_for_update().filter(pk=pk).first()
        if current is None or current.cancelled_at is not None:
            return []
        until = now + horizon()
        start = current.made_until or (now - MAX_ROOM_LIFETIME)
        if until <= start:
            return []
        wanted = [o for o in expected(current, start=start, before=until) if o.end > now]
        made = _make_rooms(current, wanted, actor=None)
        current.made_until = until
        current.save(update_fields=["made_until", "updated_at"])
    return made


def series_roll_due(*, now: datetime | None = None) -> int:
    """Roll every series whose horizon is due to move on (the worker runs this); how many."""
    now = now or timezone.now()
    due_before = now + horizon() - timedelta(hours=1)
    pending = Series.objects.filter(cancelled_at__isnull=True).filter(
        Q(made_until__isnull=True) | Q(made_until__lt=due_before)
    )
    rolled = 0
    for pk in pending.values_list("pk", flat=True):
        series_roll(pk, now=now)
        rolled += 1
    return rolled


def _make_rooms(series: Series, wanted: list[Occurrence], *, actor) -> list[Room]:
    """Rooms for occurrences, each with the roster; one mark per room, one event per room."""
    have = set(
        Room.objects.filter(series=series, occurrence__in=[o.key for o in wanted]).values_list(
            "occurrence", flat=True
        )
    )
    roster = list(SeriesParticipant.objects.filter(series=series).select_related("identity"))
    roster = [place for place in roster if place.identity.deleted_at is None]
    rooms, events = [], []
    for occurrence in wanted:
        if occurrence.key in have:
            continue
        room = Room(
            title=series.title,
            notes=series.notes,
            pstn_dial_out_enabled=series.pstn_dial_out_enabled,
            valid_from=occurrence.start,
            valid_until=occurrence.end,
            owner=series.owner,
            series=series,
            occurrence=occurrence.key,
        )
        room.full_clean(exclude=["series"])
        room.save()
        Participant.objects.bulk_create(
            [Participant(room=room, identity=p.identity, role=p.role) for p in roster]
        )
        if roster:
            mark_room_dirty(room.pk)
        events.append(
            audit.event(
                action="portal.room.created",
                actor=actor,
                target=room,
                room_id=room.pk,
                changes={
                    **audit.diff(
                        {},
                        {
                            "title": room.title,
                            "valid_from": room.valid_from,
                            "valid_until": room.valid_until,
                            "pstn_dial_out_enabled": room.pstn_dial_out_enabled,
                        },
                    ),
                    "series": {"before": None, "after": f"{series.title} (series {series.pk})"},
                    "participants": {
                        "before": None,
                        "after": [f"{p.identity} ({p.role})" for p in roster],
                    },
                },
            )
        )
        rooms.append(room)
    audit.append(events)
    return rooms


# --------------------------------------------------------------------------- which occurrences


def affected_rooms(series: Series, scope_from: datetime | None, *, now: datetime):
    """The series' rooms a change reaches: not deleted, not ended, from the occurrence on."""
    rooms = Room.objects.filter(series=series, deleted_at__isnull=True, valid_until__gt=now)
    if scope_from is not None:
        rooms = rooms.filter(occurrence__gte=scope_from)
    return rooms.order_by("pk")


def _locked(series: Series, expected_version: int | None = None) -> Series:
    current = Series.objects.select_for_update().filter(pk=series.pk).first()
    if current is None or current.cancelled_at is not None:
        raise ValidationError(SERIES_GONE)
    if expected_version is not None and current.version != expected_version:
        raise Conflict(STALE_SERIES, current=current)
    return current


# --------------------------------------------------------------------------- the roster


def series_roster_change(
    *,
    actor,
    series: Series,
    add: Iterable[ParticipantEntry] = (),
    roles: Mapping[int, str] | None = None,
    remove: Iterable[int] = (),
    scope_from: datetime | None = None,
) -> int:
    """Change the series' roster (identity id → role; identity ids to remove; people to add)
    and every occurrence it reaches: all that have not ended (scope_from None), or this and
    the following ones. Returns how many rooms changed; each gets one participants PATCH."""
    add, roles, remove = list(add), dict(roles or {}), list(dict.fromkeys(remove))
    if not (add or roles or remove):
        raise ValidationError(NOTHING_TO_CHANGE)
    if add:
        require(actor, "rooms.add_participant", "add participants")
        _check_roles(actor, add)
    if roles:
        require(actor, "rooms.change_participant", "change participants' roles")
        for role in roles.values():
            rules.check_role(role)
    if remove:
        require(actor, "rooms.delete_participant", "remove participants")
    now = timezone.now()
    with transaction.atomic():
        current = _locked(series)
        events: list = []
        places = {
            p.identity_id: p
            for p in SeriesParticipant.objects.select_related("identity").filter(series=current)
        }
        for pk in [*roles, *remove]:
            if pk not in places:
                person = Identity.objects.filter(pk=pk).first() or f"Identity {pk}"
                raise ValidationError(NOT_IN_SERIES.format(person=person))
        added = _roster_add(actor, current, add, events)
        changed_roles = {pk: role for pk, role in roles.items() if places[pk].role != role}
        was = {pk: place.role for pk, place in places.items()}
        for pk, role in changed_roles.items():
            places[pk].role = role
        SeriesParticipant.objects.bulk_update([places[pk] for pk in changed_roles], ["role"])
        SeriesParticipant.objects.filter(series=current, identity_id__in=remove).delete()
        label = {pk: str(place.identity) for pk, place in places.items()}
        label.update(
            {i.pk: str(i) for i in Identity.objects.filter(pk__in=list(added))}  # new people
        )
        events.append(
            audit.event(
                action="portal.series.roster_changed",
                actor=actor,
                target=current,
                changes={
                    "scope": {"before": None, "after": scope_text(current, scope_from)},
                    **{
                        f"person {label[pk]}": {"before": None, "after": role}
                        for pk, role in added.items()
                    },
                    **{
                        f"person {label[pk]}": {"before": was[pk], "after": role}
                        for pk, role in changed_roles.items()
                    },
                    **{f"person {label[pk]}": {"before": was[pk], "after": None} for pk in remove},
                },
            )
        )
        touched = _apply_roster(
            actor,
            list(affected_rooms(current, scope_from, now=now)),
            wanted={**added, **changed_roles},
            remove=set(remove),
            events=events,
        )
        audit.append(events)
    return touched


def _apply_roster(
    actor, rooms: list[Room], *, wanted: dict[int, str], remove: set[int], events: list
) -> int:
    """Give each room the roster change: in bulk, one mark per room that changed."""
    if not rooms:
        return 0
    ids = [room.pk for room in rooms]
    Room.objects.select_for_update().filter(pk__in=ids).order_by("pk").exists()
    present = {
        (p.room_id, p.identity_id): p
        for p in Participant.objects.select_related("identity").filter(
            room_id__in=ids, identity_id__in=[*wanted, *remove]
        )
    }
    people = {i.pk: i for i in Identity.objects.filter(pk__in=list(wanted))}
    new, updated, gone, touched = [], [], [], set()
    now = timezone.now()
    for room in rooms:
        for pk, role in wanted.items():
            participant = present.get((room.pk, pk))
            if participant is None:
                new.append(Participant(room=room, identity=people[pk], role=role))
                touched.add(room.pk)
            elif participant.role != role:
                events.append(role_changed_event(actor, participant, role))
                participant.role, participant.updated_at = role, now
                updated.append(participant)
                touched.add(room.pk)
        for pk in remove:
            participant = present.get((room.pk, pk))
            if participant is not None:
                events.append(removed_event(actor, participant))
                gone.append(participant.pk)
                touched.add(room.pk)
    events += [added_event(actor, p) for p in Participant.objects.bulk_create(new)]
    Participant.objects.bulk_update(updated, ["role", "updated_at"])
    Participant.objects.filter(pk__in=gone).delete()
    for pk in sorted(touched):
        mark_room_dirty(pk)
    return len(touched)


# --------------------------------------------------------------------------- editing


def _follows(room: Room, series: Series, was: dict[datetime, Occurrence]) -> bool:
    """Whether the room is as the series made it (an occurrence edited alone is not)."""
    occurrence = was.get(room.occurrence) if room.occurrence else None
    return (
        occurrence is not None
        and room.title == series.title
        and room.notes == series.notes
        and room.pstn_dial_out_enabled == series.pstn_dial_out_enabled
        and room.valid_from == occurrence.start
        and room.valid_until == occurrence.end
    )


def series_update(
    *,
    actor,
    series: Series,
    expected_version: int,
    scope_from: datetime | None = None,
    rule: Rule | None = None,
    **fields,
) -> Series:
    """Change the series for all occurrences that have not ended (scope_from None), or for
    this and the following ones (the series splits in two at that occurrence).

    Occurrences that have not started move to the new times (matched by their day); those
    edited on their own, and those that have started, keep theirs. Returns the series that
    holds the changed occurrences.
    """
    require(actor, "rooms.change_room", "edit rooms")
    if rule is not None:
        fields.update(_rule_fields(rule))
    if "first_start" in fields:
        first = fields.pop("first_start").replace(tzinfo=None)
        fields["first_day"], fields["start_time"] = first.date(), first.time().replace(second=0)
    unknown = set(fields) - set(SERIES_FIELDS)
    if unknown:
        raise TypeError(f"series_update got unknown fields: {sorted(unknown)}")
    if "title" in fields:
        fields["title"] = _clean_title(fields["title"])
    if "notes" in fields:
        fields["notes"] = _clean_notes(fields["notes"])
    now = timezone.now()
    with transaction.atomic():
        current = _locked(series, expected_version)
        old = Series.objects.get(pk=current.pk)
        made_until = current.made_until or now
        was = {o.key: o for o in expected(old, before=made_until + timedelta(seconds=1))}
        rooms = list(affected_rooms(current, scope_from, now=now))
        before = _snapshot(current)
        events: list = []
        if scope_from is None:
            target = current
            for name, value in fields.items():
                setattr(target, name, value)
        else:
            target = _split(actor, current, scope_from, fields, events, now=now)
        check_series(target, now=now)
        target.full_clean()
        changes = audit.diff(before, _snapshot(target))
        if not changes and target.pk == current.pk:
            return current
        target.version += 1
        target.save()
        events.append(
            audit.event(
                action="portal.series.updated",
                actor=actor,
                target=target,
                changes={
                    **changes,
                    "scope": {"before": None, "after": scope_text(current, scope_from)},
                    "rule": {"before": describe(old), "after": describe(target)},
                },
            )
        )
        _move_rooms(actor, old, target, rooms, was, events, now=now, made_until=made_until)
        audit.append(events)
    return target


def _split(actor, current: Series, scope_from: datetime, fields: dict, events, *, now) -> Series:
    """End `current` before the occurrence at scope_from; a new series takes it from there."""
    before_split = expected(current, before=scope_from)
    local_from = scope_from.astimezone(zone_of(current)).replace(tzinfo=None)
    new = Series.objects.get(pk=current.pk)
    new.pk = None
    new.version = 0
    new.skipped = [key for key in current.skipped if key >= scope_from.isoformat()]
    new.first_start = local_from
    if current.count is not None:
        taken = len(
            list(
                recurrence.occurrences(
                    rule_of(current),
                    first_local(current),
                    zone_of(current),
                    current.duration,
                    before=scope_from,
                )
            )
        )
        new.count = max(1, current.count - taken)
    for name, value in fields.items():
        setattr(new, name, value)
    if "first_day" not in fields:
        new.first_day = local_from.date()
    if not before_split:
        # The split is at the first occurrence: the whole series changes, nothing to end.
        for name in SERIES_FIELDS:
            setattr(current, name, getattr(new, name))
        current.skipped = new.skipped
        return current
    current.until = (local_from - timedelta(days=1)).date()
    current.count = None
    current.version += 1
    current.save()
    new.save()
    SeriesParticipant.objects.bulk_create(
        [
            SeriesParticipant(series=new, identity_id=p.identity_id, role=p.role)
            for p in SeriesParticipant.objects.filter(series=current)
        ]
    )
    events.append(
        audit.event(
            action="portal.series.split",
            actor=actor,
            target=current,
            changes={
                "until": {"before": None, "after": current.until},
                "continued_as": {"before": None, "after": f"series {new.pk}"},
            },
        )
    )
    return new


def _move_rooms(actor, old: Series, target: Series, rooms, was, events, *, now, made_until):
    """Rooms that followed the old series follow the new one: matched by their local day."""
    new_by_day = {
        o.local_start.date(): o
        for o in expected(target, start=now, before=max(made_until, now) + timedelta(seconds=1))
    }
    old_days = {o.local_start.date() for o in was.values()}
    kept_days = set()
    for room in rooms:
        if not _follows(room, old, was):
            # Edited on its own: it keeps its fields, and belongs to the series that has its day.
            if room.series_id != target.pk:
                Room.objects.filter(pk=room.pk).update(series=target)
            continue
        day = was[room.occurrence].local_start.date()
        occurrence = new_by_day.get(day)
        started = room.valid_from <= now
        if started:
            kept_days.add(day)
            if room.series_id != target.pk:
                Room.objects.filter(pk=room.pk).update(series=target)
            continue
        if occurrence is None:
            _delete_rooms(actor, [room], events, why="no longer in the series' rule", now=now)
            continue
        kept_days.add(day)
        before = room_snapshot(room)
        room.title, room.notes = target.title, target.notes
        room.pstn_dial_out_enabled = target.pstn_dial_out_enabled
        room.valid_from, room.valid_until = occurrence.start, occurrence.end
        room.series, room.occurrence = target, occurrence.key
        changes = audit.diff(before, room_snapshot(room))
        room.version += 1
        room.save()
        if changes:
            events.append(
                audit.event(
                    action="portal.room.updated",
                    actor=actor,
                    target=room,
                    room_id=room.pk,
                    changes={**changes, "series": {"before": None, "after": f"series {target.pk}"}},
                )
            )
    # Days the new rule adds inside what was made already (beyond it, the roll makes them);
    # a day the old rule had and whose room is gone was deleted on purpose: not made again.
    fresh = [
        o
        for day, o in new_by_day.items()
        if day not in kept_days and day not in old_days and o.end > now
    ]
    _make_rooms(target, fresh, actor=actor)
    if target.made_until is None or target.made_until < made_until:
        Series.objects.filter(pk=target.pk).update(made_until=made_until)
    transaction.on_commit(lambda: enqueue_roll(target.pk))


# --------------------------------------------------------------------------- skip and cancel


def _delete_rooms(actor, rooms: list[Room], events: list, *, why: str, now) -> int:
    for room in rooms:
        before = room_snapshot(room)
        room.deleted_at = now
        room.version += 1
        room.save(update_fields=["deleted_at", "version", "updated_at"])
        events.append(
            audit.event(
                action="portal.room.deleted",
                actor=actor,
                target=room,
                room_id=room.pk,
                changes={**audit.diff(before, {}), "series": {"before": None, "after": why}},
            )
        )
    return len(rooms)


def series_skip(*, actor, series: Series, room: Room) -> None:
    """Take one occurrence out of the series: its room is deleted and never made again."""
    require(actor, "rooms.delete_room", "delete rooms")
    now = timezone.now()
    with transaction.atomic():
        current = _locked(series)
        locked = Room.objects.select_for_update().filter(pk=room.pk, series=current).first()
        if locked is None or locked.occurrence is None:
            raise ValidationError(NOT_AN_OCCURRENCE)
        if locked.valid_from <= now:
            raise ValidationError(ALREADY_STARTED)
        key = locked.occurrence.astimezone(UTC).isoformat()
        current.skipped = sorted({*current.skipped, key})
        current.version += 1
        current.save(update_fields=["skipped", "version", "updated_at"])
        events = [
            audit.event(
                action="portal.series.occurrence_skipped",
                actor=actor,
                target=current,
                changes={"skipped": {"before": None, "after": key}},
            )
        ]
        if locked.deleted_at is None:
            _delete_rooms(actor, [locked], events, why="skipped in its series", now=now)
        audit.append(events)


def series_cancel(*, actor, series: Series, scope_from: datetime | None = None) -> int:
    """Cancel the whole series (scope_from None) or this and the following occurrences; rooms
    that have not started are deleted, those that have keep going. Returns how many went."""
    require(actor, "rooms.delete_room", "delete rooms")
    now = timezone.now()
    with transaction.atomic():
        current = _locked(series)
        rooms = [
            room
            for room in affected_rooms(current, scope_from, now=now).select_for_update()
            if room.valid_from > now
        ]
        events: list = []
        if scope_from is None or not expected(current, before=scope_from):
            current.cancelled_at = now
            change: dict[str, dict] = {"cancelled_at": {"before": None, "after": now}}
        else:
            local_from = scope_from.astimezone(zone_of(current)).replace(tzinfo=None)
            old_until = current.until
            current.until = (local_from - timedelta(days=1)).date()
            current.count = None
            change = {"until": {"before": old_until, "after": current.until}}
        current.version += 1
        current.save()
        events.append(
            audit.event(
                action="portal.series.cancelled",
                actor=actor,
                target=current,
                changes={
                    **change,
                    "scope": {"before": None, "after": scope_text(current, scope_from)},
                },
            )
        )
        gone = _delete_rooms(actor, rooms, events, why="series cancelled", now=now)
        audit.append(events)
    return gone
