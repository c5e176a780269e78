"""Recurring series: occurrences as rooms over a rolling horizon, the roster, edits, cancels."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from identities.services import NewPerson
from outbox import registry
from outbox.worker import Housekeeper
from portal.models import AuditEvent
from rooms import recurrence
from rooms import series as series_services
from rooms.models import Participant, Role, Room, Series
from rooms.recurrence import Rule
from rooms.services import ParticipantEntry, room_update
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def _soon() -> datetime:
    """09:00 in Paris, two days from now: a weekly series' next three fit 20 days, not four."""
    day = (timezone.now() + timedelta(days=2)).astimezone(PARIS).date()
    return datetime.combine(day, datetime.min.time()).replace(hour=9)


def _weekly(actor, *, first: datetime, count=None, until=None, people=(), zone="Europe/Paris"):
    return series_services.series_create(
        actor=actor,
        title="Weekly stand-up",
        time_zone=zone,
        first_start=first,
        duration=timedelta(minutes=30),
        rule=Rule(recurrence.WEEKLY, count=count, until=until),
        participants=[
            ParticipantEntry(NewPerson(name, email), role) for name, email, role in people
        ],
    )


PEOPLE = (
    ("Ada Lovelace", "ada@example.com", Role.PRESENTER),
    ("Alan Turing", "alan@example.com", Role.ATTENDEE),
)


def _acs_roster(emulator, room: Room) -> dict[str, str]:
    room.refresh_from_db()
    with emulator.store.read() as conn:
        rows = conn.execute(
            "SELECT raw_id, role FROM participants WHERE room_id = ?", (room.acs_id,)
        ).fetchall()
    return {row["raw_id"]: row["role"] for row in rows}


# --------------------------------------------------------------------------- the rule


def test_a_weekly_rule_keeps_nine_local_across_a_daylight_saving_change():
    # Paris moves its clocks forward on 28 March 2027.
    first = datetime(2027, 3, 15, 9, 0)
    found = list(
        recurrence.occurrences(Rule(recurrence.WEEKLY, count=4), first, PARIS, timedelta(hours=1))
    )
    assert [o.start.astimezone(PARIS).strftime("%a %d %H:%M") for o in found] == [
        "Mon 15 09:00",
        "Mon 22 09:00",
        "Mon 29 09:00",
        "Mon 05 09:00",
    ]
    assert [o.start.astimezone(UTC).hour for o in found] == [8, 8, 7, 7]


def test_rules_read_as_people_say_them():
    first = datetime(2027, 1, 12, 14, 30)  # the second Tuesday
    assert (
        recurrence.describe(Rule(recurrence.MONTHLY, monthly_by=recurrence.ON_WEEKDAY), first)
        == "Every month on the second Tuesday at 14:30"
    )
    assert (
        recurrence.describe(Rule(recurrence.WEEKLY, interval=2, weekdays=(0, 2), count=6), first)
        == "Every 2 weeks on Monday, Wednesday at 14:30, 6 times"
    )
    monthly = recurrence.occurrences(
        Rule(recurrence.MONTHLY, monthly_by=recurrence.ON_WEEKDAY, count=3),
        first,
        PARIS,
        timedelta(hours=1),
    )
    assert [o.local_start.date() for o in monthly] == [
        date(2027, 1, 12),
        date(2027, 2, 9),
        date(2027, 3, 9),
    ]
    assert recurrence.rrule_text(Rule(recurrence.DAILY, count=3), first) == (
        "RRULE:FREQ=DAILY;COUNT=3"
    )


# --------------------------------------------------------------------------- the horizon


def test_the_worker_makes_the_occurrences_inside_the_horizon_with_the_roster(
    settings, emulator, scheduler, role_admin, django_capture_on_commit_callbacks
):
    settings.SERIES_HORIZON_DAYS = 20
    with django_capture_on_commit_callbacks(execute=True):
        series = _weekly(
            role_admin,
            first=_soon(),
            people=PEOPLE,
        )
    assert not Room.objects.exists()  # the worker makes them
    with django_capture_on_commit_callbacks(execute=True):
        run_tasks()  # the roll, which enqueues the rooms' pushes
    run_tasks()
    rooms = list(Room.objects.filter(series=series).order_by("valid_from"))
    assert len(rooms) == 3
    assert [r.valid_from.astimezone(PARIS).hour for r in rooms] == [9, 9, 9]
    for room in rooms:
        assert room.title == "Weekly stand-up"
        assert room.acs_id
        assert set(_acs_roster(emulator, room).values()) == {"Presenter", "Attendee"}
    # Rolling again the same day makes nothing; three weeks later, the next ones.
    assert series_services.series_roll(series) == []
    later = series_services.series_roll(series, now=timezone.now() + timedelta(days=21))
    assert len(later) == 3
    assert AuditEvent.objects.filter(
        action="portal.series.created", target_id=str(series.pk)
    ).exists()


def test_a_count_ends_the_series(settings, emulator, scheduler):
    settings.SERIES_HORIZON_DAYS = 60
    series = _weekly(
        scheduler,
        first=_soon(),
        count=2,
    )
    series_services.series_roll(series)
    assert Room.objects.filter(series=series).count() == 2


def test_the_housekeeper_runs_the_series_roll(settings, scheduler, monkeypatch):
    calls = []
    monkeypatch.setattr(
        registry,
        "_periodic",
        {"x": registry.Periodic(name="x", every=600, run=lambda: calls.append(1))},
    )
    now = {"at": 0.0}
    housekeeper = Housekeeper(clock=lambda: now["at"])
    housekeeper.run_periodic()
    housekeeper.run_periodic()
    now["at"] = 600
    housekeeper.run_periodic()
    assert calls == [1, 1]


def test_the_rooms_app_registers_its_roll():
    assert any(job.run == series_services.series_roll_due for job in registry.periodic())


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, field",
    [
        ({"rule": Rule(recurrence.WEEKLY, interval=0)}, "interval"),
        ({"rule": Rule(recurrence.WEEKLY, count=0)}, "count"),
        ({"rule": Rule(recurrence.WEEKLY, count=10_000)}, "count"),
        ({"rule": Rule("yearly")}, "frequency"),
        ({"rule": Rule(recurrence.WEEKLY, weekdays=(9,))}, "weekdays"),
        ({"rule": Rule(recurrence.WEEKLY, until=date(2000, 1, 1))}, "until"),
        ({"duration": timedelta(days=181)}, "duration"),
        ({"duration": timedelta(0)}, "duration"),
        ({"time_zone": "Factory/Nowhere"}, "time_zone"),
    ],
)
def test_a_bad_series_is_refused_and_nothing_is_saved(scheduler, change, field):
    fields = {
        "actor": scheduler,
        "title": "Bad",
        "time_zone": "Europe/Paris",
        "first_start": _soon(),
        "duration": timedelta(hours=1),
        "rule": Rule(recurrence.WEEKLY),
        **change,
    }
    with pytest.raises(ValidationError) as raised:
        series_services.series_create(**fields)
    assert field in raised.value.message_dict
    assert not Series.objects.exists()


def test_a_series_wholly_in_the_past_is_refused(scheduler):
    with pytest.raises(ValidationError, match="no occurrence that has not ended"):
        _weekly(scheduler, first=datetime(2020, 1, 6, 9, 0), count=3)
    assert not Series.objects.exists()


def test_only_role_admins_give_roles_in_a_series(scheduler):
    with pytest.raises(Exception, match="role"):
        _weekly(
            scheduler,
            first=_soon(),
            people=PEOPLE,
        )
    assert not Series.objects.exists()


# --------------------------------------------------------------------------- the roster


@pytest.fixture
def three_weeks(settings, emulator, role_admin, django_capture_on_commit_callbacks):
    settings.SERIES_HORIZON_DAYS = 20
    series = _weekly(
        role_admin,
        first=_soon(),
        people=PEOPLE,
    )
    with django_capture_on_commit_callbacks(execute=True):
        series_services.series_roll(series)
    run_tasks()
    return series, list(Room.objects.filter(series=series).order_by("valid_from"))


def test_this_and_following_reaches_every_later_occurrence_in_one_patch_each(
    emulator, role_admin, three_weeks, django_capture_on_commit_callbacks
):
    series, rooms = three_weeks
    alan = Participant.objects.get(room=rooms[0], identity__email="alan@example.com").identity
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    with django_capture_on_commit_callbacks(execute=True):
        touched = series_services.series_roster_change(
            actor=role_admin,
            series=series,
            roles={alan.pk: Role.PRESENTER},
            add=[ParticipantEntry(NewPerson("Grace Hopper", "grace@example.com"), Role.CONSUMER)],
            scope_from=rooms[1].occurrence,
        )
    run_tasks()
    assert touched == 2
    assert emulator.requests()["counts"]["Participants_Update"] - before == 2
    assert sorted(_acs_roster(emulator, rooms[0]).values()) == ["Attendee", "Presenter"]
    for room in rooms[1:]:
        assert sorted(_acs_roster(emulator, room).values()) == [
            "Consumer",
            "Presenter",
            "Presenter",
        ]
    # New occurrences start with the changed roster.
    later = series_services.series_roll(series, now=timezone.now() + timedelta(days=7))
    assert {p.identity.email: p.role for p in later[0].participants.all()} == {
        "ada@example.com": Role.PRESENTER,
        "alan@example.com": Role.PRESENTER,
        "grace@example.com": Role.CONSUMER,
    }
    assert AuditEvent.objects.filter(
        action="portal.participant.role_changed", room_id=rooms[2].pk
    ).exists()


def test_all_occurrences_and_removal(
    emulator, role_admin, three_weeks, django_capture_on_commit_callbacks
):
    series, rooms = three_weeks
    ada = Participant.objects.get(room=rooms[0], identity__email="ada@example.com").identity
    with django_capture_on_commit_callbacks(execute=True):
        touched = series_services.series_roster_change(
            actor=role_admin, series=series, remove=[ada.pk]
        )
    assert touched == 3
    run_tasks()
    for room in rooms:
        assert list(_acs_roster(emulator, room).values()) == ["Attendee"]


def test_a_roster_change_of_someone_not_in_the_series_changes_nothing(role_admin, three_weeks):
    series, rooms = three_weeks
    with pytest.raises(ValidationError, match="not in the series"):
        series_services.series_roster_change(
            actor=role_admin, series=series, roles={999999: Role.PRESENTER}
        )
    with pytest.raises(ValidationError, match="at least one"):
        series_services.series_roster_change(actor=role_admin, series=series)


# --------------------------------------------------------------------------- edits


def test_a_time_change_for_all_moves_the_same_rooms(emulator, role_admin, three_weeks):
    series, rooms = three_weeks
    acs_ids = [room.acs_id for room in rooms]
    first = series.first_start
    moved = series_services.series_update(
        actor=role_admin,
        series=series,
        expected_version=series.version,
        first_start=first.replace(hour=10, minute=15),
        title="Stand-up",
    )
    run_tasks()
    assert moved.pk == series.pk
    now_rooms = list(
        Room.objects.filter(series=series, deleted_at__isnull=True).order_by("valid_from")
    )
    assert [r.acs_id for r in now_rooms] == acs_ids
    assert [r.valid_from.astimezone(PARIS).strftime("%H:%M") for r in now_rooms] == ["10:15"] * 3
    assert {r.title for r in now_rooms} == {"Stand-up"}


def test_an_occurrence_edited_alone_keeps_its_own_fields(role_admin, three_weeks):
    series, rooms = three_weeks
    room_update(
        actor=role_admin, room=rooms[1], expected_version=rooms[1].version, title="Demo day"
    )
    series_services.series_update(
        actor=role_admin, series=series, expected_version=series.version, title="Stand-up"
    )
    titles = list(
        Room.objects.filter(series=series).order_by("valid_from").values_list("title", flat=True)
    )
    assert titles == ["Stand-up", "Demo day", "Stand-up"]


def test_this_and_following_splits_the_series(role_admin, three_weeks):
    series, rooms = three_weeks
    later = series_services.series_update(
        actor=role_admin,
        series=series,
        expected_version=series.version,
        scope_from=rooms[1].occurrence,
        first_start=rooms[1].occurrence.astimezone(PARIS).replace(tzinfo=None, hour=11),
    )
    assert later.pk != series.pk
    series.refresh_from_db()
    assert series.until == (rooms[1].occurrence.astimezone(PARIS) - timedelta(days=1)).date()
    assert list(Room.objects.filter(series=series, deleted_at__isnull=True)) == [rooms[0]]
    moved = Room.objects.filter(series=later, deleted_at__isnull=True).order_by("valid_from")
    assert [r.pk for r in moved] == [rooms[1].pk, rooms[2].pk]
    assert [r.valid_from.astimezone(PARIS).hour for r in moved] == [11, 11]
    assert later.roster.count() == 2
    assert AuditEvent.objects.filter(action="portal.series.split").exists()


def test_a_stale_edit_is_a_conflict(role_admin, three_weeks):
    from portal.services import Conflict

    series, _ = three_weeks
    with pytest.raises(Conflict):
        series_services.series_update(
            actor=role_admin, series=series, expected_version=series.version + 1, title="X"
        )


# --------------------------------------------------------------------------- skip and cancel


def test_a_skipped_occurrence_goes_and_never_comes_back(role_admin, three_weeks):
    series, rooms = three_weeks
    series_services.series_skip(actor=role_admin, series=series, room=rooms[1])
    rooms[1].refresh_from_db()
    assert rooms[1].deleted_at is not None
    series.refresh_from_db()
    series.made_until = None
    series.save()
    series_services.series_roll(series)
    assert Room.objects.filter(series=series, deleted_at__isnull=True).count() == 2


def test_cancel_the_following_and_the_whole(role_admin, three_weeks):
    series, rooms = three_weeks
    assert (
        series_services.series_cancel(
            actor=role_admin, series=series, scope_from=rooms[2].occurrence
        )
        == 1
    )
    series.refresh_from_db()
    assert series.cancelled_at is None and series.until is not None
    assert series_services.series_roll(series, now=timezone.now() + timedelta(days=30)) == []
    assert series_services.series_cancel(actor=role_admin, series=series) == 2
    series.refresh_from_db()
    assert series.cancelled_at is not None
    assert not Room.objects.filter(series=series, deleted_at__isnull=True).exists()
    with pytest.raises(ValidationError, match="cancelled"):
        series_services.series_roster_change(actor=role_admin, series=series, remove=[1])
