"""reconcile finds drift made behind the portal's back, repairs it, and adopts foreign rooms."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

import acs_gateway as acs
from identities.models import Identity
from identities.services import NewPerson
from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import drift, repairs, services
from rooms.management.commands.reconcile import when
from rooms.models import Role, Room
from rooms.sync import acs_valid_from, desired_state
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db


def _reconcile(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("reconcile", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def _lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


@pytest.fixture
def pushed(emulator, role_admin, superuser, django_capture_on_commit_callbacks):
    """Make a room through the services and push it to ACS, as the worker would.

    The superuser is who `reconcile --fix` repairs as when no --actor is named.
    """

    def make(title: str, people=(), hours: int = 2) -> Room:
        start = timezone.now() + timedelta(hours=1)
        with django_capture_on_commit_callbacks(execute=True):
            room = services.room_create(
                actor=role_admin,
                title=title,
                valid_from=start,
                valid_until=start + timedelta(hours=hours),
                participants=[
                    services.ParticipantEntry(NewPerson(name, email), role)
                    for name, email, role in people
                ],
            )
        run_tasks()
        room.refresh_from_db()
        assert room.sync.state == SyncState.SYNCED
        return room

    return make


def _gateway() -> acs.AcsGateway:
    return acs.get_gateway()


def _raw_id(email: str) -> str:
    return Identity.objects.get(email=email).raw_id


def _assert_acs_matches_portal(room: Room) -> None:
    room.refresh_from_db()
    held = _gateway().get_room(room.acs_id)
    # Exactly what the sync sends: the start fingerprinted with the room's id, the end as is.
    assert held.valid_from == acs_valid_from(room)
    assert held.valid_until == room.valid_until
    assert held.pstn_dial_out_enabled == room.pstn_dial_out_enabled
    assert _gateway().list_participants(room.acs_id) == desired_state(room)["participants"]


def _foreign_room(*, people: dict[str, str] | None = None) -> acs.AcsRoom:
    start = timezone.now() + timedelta(hours=5)
    return _gateway().create_room(
        valid_from=start, valid_until=start + timedelta(hours=1), participants=people or {}
    )


@pytest.fixture
def drifted(pushed):
    """Four kinds of drift made in ACS behind the portal's back."""
    lost = pushed("Lost room")
    recast = pushed("Recast room", [("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    moved = pushed("Moved room")
    gateway = _gateway()
    gateway.delete_room(lost.acs_id)
    gateway.update_participants(recast.acs_id, upserts={_raw_id("ada@example.com"): "Presenter"})
    gateway.update_room(moved.acs_id, valid_until=moved.valid_until + timedelta(hours=1))
    foreign = _foreign_room(people={gateway.create_user(): "Consumer"})
    return {"lost": lost, "recast": recast, "moved": moved, "foreign": foreign}


def test_it_reports_each_kind_of_drift_on_its_own_line_and_exits_1(drifted):
    lost, recast, moved = drifted["lost"], drifted["recast"], drifted["moved"]
    code, out, _ = _reconcile()
    lines = _lines(out)
    assert code == 1
    assert f'room {lost.pk} "Lost room" (ACS {lost.acs_id}): ACS has no such room.' in lines
    assert (
        f'room {recast.pk} "Recast room" (ACS {recast.acs_id}): '
        f"{_raw_id('ada@example.com')} (Ada Lovelace) is Attendee in the portal, "
        "Presenter in ACS."
    ) in lines
    until = when(moved.valid_until)
    acs_until = when(moved.valid_until + timedelta(hours=1))
    assert (
        f'room {moved.pk} "Moved room" (ACS {moved.acs_id}): valid_until is {until} in the '
        f"portal, {acs_until} in ACS."
    ) in lines
    assert any(
        line.startswith(f"ACS room {drifted['foreign'].id}: no portal room owns it")
        for line in lines
    )
    assert (
        "Drift remains: 4 differences. Run again with --fix (and --import) to repair it." in lines
    )


def test_it_groups_the_differences_under_headings(drifted):
    _, out, _ = _reconcile()
    headings = [line for line in out.splitlines() if not line.startswith(" ")][:4]
    assert headings == [
        "Only in the portal (1):",
        "Only in ACS (1):",
        "Field differences (1):",
        "Roster differences (1):",
    ]


def test_fix_makes_acs_match_the_portal_and_a_second_run_finds_no_drift(drifted):
    lost = drifted["lost"]
    lost_acs_id = lost.acs_id
    code, out, err = _reconcile("--fix")
    assert (code, err) == (0, "")
    assert "Repaired all drift (4 differences)." in _lines(out)
    lost.refresh_from_db()
    assert lost.acs_id and lost.acs_id != lost_acs_id
    for room in (lost, drifted["recast"], drifted["moved"]):
        _assert_acs_matches_portal(room)
    with pytest.raises(acs.AcsNotFound):
        _gateway().get_room(drifted["foreign"].id)
    assert _reconcile() == (0, "No drift.\n", "")


def test_fix_records_an_audit_event_per_room_and_per_deleted_orphan(drifted):
    _reconcile("--fix")
    fixed = AuditEvent.objects.filter(action="portal.reconcile.fixed")
    assert sorted(fixed.values_list("room_id", flat=True)) == sorted(
        drifted[name].pk for name in ("lost", "recast", "moved")
    )
    moved = fixed.get(room_id=drifted["moved"].pk)
    assert set(moved.changes) == {"valid_until"}
    assert moved.acs_outcome == {"result": "synced"}
    orphan = AuditEvent.objects.get(action="portal.reconcile.orphan_deleted")
    assert orphan.target_id == drifted["foreign"].id


def test_fix_sends_only_the_difference_for_a_recast_participant(pushed, emulator):
    room = pushed(
        "Panel",
        [
            ("Ada Lovelace", "ada@example.com", Role.ATTENDEE),
            ("Alan Turing", "alan@example.com", Role.PRESENTER),
        ],
    )
    _gateway().update_participants(room.acs_id, upserts={_raw_id("ada@example.com"): "Consumer"})
    before = emulator.requests()["counts"]
    assert _reconcile("--fix")[0] == 0
    after = emulator.requests()["counts"]
    assert after.get("Participants_Update", 0) - before.get("Participants_Update", 0) == 1
    assert after.get("Rooms_Update", 0) == before.get("Rooms_Update", 0)
    _assert_acs_matches_portal(room)


def test_fix_removes_a_participant_added_only_in_acs(pushed):
    room = pushed("Closed meeting", [("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    stranger = _gateway().create_user()
    _gateway().update_participants(room.acs_id, upserts={stranger: "Presenter"})
    code, out, _ = _reconcile()
    assert code == 1
    assert f"{stranger} is not in the portal, Presenter in ACS." in out
    assert _reconcile("--fix")[0] == 0
    assert stranger not in _gateway().list_participants(room.acs_id)


def test_import_adopts_a_foreign_room_without_creating_anything_in_acs(
    pushed, superuser, emulator, django_capture_on_commit_callbacks
):
    known = pushed("Known people", [("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    ada = _raw_id("ada@example.com")
    stranger = _gateway().create_user()
    foreign = _foreign_room(people={ada: "Presenter", stranger: "Consumer"})
    before = emulator.requests()["counts"]

    with django_capture_on_commit_callbacks(execute=True):
        code, out, err = _reconcile("--import")
    run_tasks()

    assert (code, err) == (0, "")
    room = Room.objects.get(acs_id=foreign.id)
    assert f"Imported ACS room {foreign.id} as room {room.pk} with 2 participants." in out
    assert (room.title, room.owner, room.sync.state) == (
        f"Imported {foreign.id}",
        superuser,
        SyncState.SYNCED,
    )
    assert room.valid_from == foreign.valid_from
    assert room.valid_until == foreign.valid_until
    roster = {p.identity.raw_id: p.role for p in room.participants.select_related("identity")}
    assert roster == {ada: "Presenter", stranger: "Consumer"}
    assert Identity.objects.get(raw_id=stranger).display_name == stranger
    after = emulator.requests()["counts"]
    for operation in ("Rooms_Create", "Participants_Update", "Identity_Create"):
        assert after.get(operation, 0) == before.get(operation, 0), operation
    assert AuditEvent.objects.filter(action="portal.reconcile.imported", room_id=room.pk).exists()
    assert known.participants.count() == 1
    assert _reconcile() == (0, "No drift.\n", "")


def test_import_makes_the_actor_the_owner(emulator, role_admin):
    foreign = _foreign_room()
    assert _reconcile("--import", "--actor", role_admin.username)[0] == 0
    assert Room.objects.get(acs_id=foreign.id).owner == role_admin


def test_import_refuses_an_actor_who_may_not_create_rooms(emulator, auditor):
    foreign = _foreign_room()
    code, _, err = _reconcile("--import", "--actor", auditor.username)
    assert code == 1
    assert f"Could not import ACS room {foreign.id}: You may not create rooms" in err
    assert not Room.objects.exists()


def test_a_portal_in_step_with_acs_has_no_drift(pushed):
    pushed("In step", [("Ada Lovelace", "ada@example.com", Role.PRESENTER)])
    assert _reconcile() == (0, "No drift.\n", "")


def test_a_room_not_pushed_yet_is_pending_not_drift(pushed, scheduler):
    pushed("Pushed")
    room = services.room_create(actor=scheduler, title="Brand new")
    code, out, _ = _reconcile()
    assert code == 0
    assert _lines(out) == [
        "Pending push (not drift) (1):",
        f'room {room.pk} "Brand new": not created in ACS yet.',
        "No drift.",
    ]


def test_a_room_that_expired_and_left_acs_is_not_drift(pushed, emulator, monkeypatch):
    room = pushed("Yesterday's meeting")
    # Two days pass: ACS stops listing the ended room, and its window lies in the past.
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(emulator.rooms, "now", lambda: later)
    Room.objects.filter(pk=room.pk).update(
        valid_from=room.valid_from - timedelta(days=2),
        valid_until=room.valid_until - timedelta(days=2),
    )
    assert room.acs_id not in {listed.id for listed in _gateway().list_rooms()}
    assert _reconcile() == (0, "No drift.\n", "")


def test_comparing_costs_one_list_of_rooms_and_one_roster_read_per_room(pushed, emulator):
    for n in range(3):
        pushed(f"Room {n}", [(f"P{n}", f"p{n}@example.com", Role.ATTENDEE)])
    before = emulator.requests()["counts"]
    _reconcile()
    after = emulator.requests()["counts"]
    spent = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
    assert spent == {"Rooms_List": 1, "Participants_List": 3}


def test_the_progress_bar_is_drawn_on_stderr_when_asked(pushed):
    pushed("One")
    pushed("Two")
    code, out, err = _reconcile("--progress")
    assert code == 0
    assert "\rReading rosters [" in err
    assert "] 2/2" in err
    assert "\r" not in out


def test_the_progress_bar_stays_silent_when_stderr_is_not_a_terminal(pushed):
    pushed("One")
    assert _reconcile()[2] == ""


def test_drift_returns_typed_differences_the_admin_can_reuse(drifted):
    found = drift.drift()
    kinds = sorted(type(d).__name__ for d in found.differences)
    assert kinds == ["FieldDifference", "OnlyInAcs", "OnlyInPortal", "RosterDifference"]
    assert [d.room for d in found.only_in_portal] == [drifted["lost"]]
    assert [d.acs_room.id for d in found.only_in_acs] == [drifted["foreign"].id]
    assert [(d.room, d.field) for d in found.fields] == [(drifted["moved"], "valid_until")]
    assert [(d.room, d.portal_role, d.acs_role) for d in found.roster] == [
        (drifted["recast"], "Attendee", "Presenter")
    ]
    assert (found.pending, found.lost_creates) == ([], [])
    grouped = found.by_room()
    assert set(grouped) == {drifted[name].pk for name in ("lost", "recast", "moved")}


def test_drift_of_chosen_rooms_reads_only_those_rooms(drifted, emulator):
    before = emulator.requests()["counts"]
    found = drift.drift(rooms=[drifted["moved"], drifted["lost"]])
    after = emulator.requests()["counts"]
    spent = {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}
    assert spent == {"Rooms_Get": 2, "Participants_List": 1}
    assert [d.room for d in found.only_in_portal] == [drifted["lost"]]
    assert [d.field for d in found.fields] == ["valid_until"]
    assert (found.only_in_acs, found.roster) == ([], [])


def test_drift_writes_nothing(drifted):
    before = list(AuditEvent.objects.values_list("pk", flat=True))
    rooms = list(Room.objects.values_list("pk", "acs_id", "sync__acs", "sync__state"))
    drift.drift()
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == before
    assert list(Room.objects.values_list("pk", "acs_id", "sync__acs", "sync__state")) == rooms


def test_an_unknown_actor_is_refused(emulator):
    with pytest.raises(CommandError, match="There is no user named 'nobody'"):
        call_command("reconcile", "--fix", "--actor", "nobody", stdout=io.StringIO())


def test_fix_exits_1_naming_the_room_when_its_push_fails(pushed, monkeypatch):
    room = pushed("Unlucky", [("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    _gateway().update_participants(room.acs_id, upserts={_raw_id("ada@example.com"): "Presenter"})

    def unavailable(self, room_id, **kwargs):
        raise acs.AcsUnavailable("ACS is down for maintenance", status=503)

    monkeypatch.setattr(acs.AcsGateway, "update_participants", unavailable)
    code, out, err = _reconcile("--fix")
    assert code == 1
    assert err == (
        f'Could not fix room {room.pk} "Unlucky" (ACS {room.acs_id}): the push ended failed: '
        "503 AcsUnavailable: ACS is down for maintenance.\n"
    )
    assert "Drift remains: 1 difference." in _lines(out)
    room.refresh_from_db()
    assert room.sync.state == SyncState.FAILED


def test_it_compares_nothing_when_acs_cannot_be_read(pushed, emulator):
    pushed("Somewhere")
    emulator.set_faults(error_rates={503: 1.0})
    with pytest.raises(CommandError, match="Could not read ACS, so nothing was compared"):
        call_command("reconcile", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_portal_change_the_worker_has_not_pushed_yet_is_pending_not_drift(
    pushed, role_admin, scheduler
):
    room = pushed("Busy room", [("Ada Lovelace", "ada@example.com", Role.ATTENDEE)])
    # Committed in the portal, its push still queued (no run_tasks): the sync's work, not drift.
    services.room_update(
        actor=scheduler,
        room=room,
        expected_version=room.version,
        notes="x",
        pstn_dial_out_enabled=True,
    )
    participant = room.participants.get()
    services.participant_role_change(actor=role_admin, participant=participant, role="Presenter")

    code, out, _ = _reconcile()
    assert code == 0, out
    lines = _lines(out)
    assert any("waits to be pushed" in line and "pstn_dial_out_enabled" in line for line in lines)
    assert any("waits to be pushed" in line and "Presenter in the portal" in line for line in lines)


def test_acs_changed_behind_the_portal_is_drift_even_while_a_push_is_queued(pushed, scheduler):
    room = pushed("Contested room")
    services.room_update(
        actor=scheduler,
        room=room,
        expected_version=room.version,
        notes="x",
        pstn_dial_out_enabled=True,
    )
    _gateway().update_room(room.acs_id, valid_until=room.valid_until + timedelta(hours=1))

    code, out, _ = _reconcile()
    assert code == 1
    assert any("valid_until is" in line for line in _lines(out))


# ------------------------------------------------------------------ repairs check their actor


def test_the_repairs_refuse_an_actor_without_the_permission_and_change_nothing(drifted, auditor):
    from django.core.exceptions import PermissionDenied

    found = drift.drift()
    lost = found.by_room()[drifted["lost"].pk]
    [orphan] = found.only_in_acs
    for actor in (auditor, None):
        with pytest.raises(PermissionDenied, match="rooms.change_room"):
            repairs.room_fix(actor=actor, room=drifted["lost"], differences=lost)
        with pytest.raises(PermissionDenied, match="rooms.delete_room"):
            repairs.acs_orphan_delete(actor=actor, acs_room=orphan.acs_room)
        with pytest.raises(PermissionDenied, match="rooms.add_room"):
            repairs.room_import_from_acs(actor=actor, acs_room=orphan.acs_room)
    assert _gateway().get_room(drifted["foreign"].id)
    assert Room.objects.get(pk=drifted["lost"].pk).acs_id == drifted["lost"].acs_id
    assert not AuditEvent.objects.filter(action__startswith="portal.reconcile.").exists()


def test_fix_as_a_user_without_the_permission_is_refused_before_anything_changes(drifted, auditor):
    with pytest.raises(CommandError, match="rooms.change_room"):
        call_command("reconcile", "--fix", "--as", auditor.username, stdout=io.StringIO())
    assert _gateway().get_room(drifted["foreign"].id)
    assert len(drift.drift().differences) == 4


def test_fix_records_each_repair_as_the_user_it_ran_as(drifted, role_admin, superuser):
    assert _reconcile("--fix", "--as", role_admin.username)[0] == 0
    repaired = AuditEvent.objects.filter(action__startswith="portal.reconcile.")
    assert repaired.count() == 4
    assert set(repaired.values_list("actor_label", flat=True)) == {role_admin.username}
