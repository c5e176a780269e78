"""A create whose answer was lost: the room adopts only an ACS room only it can have made.

Each portal room sends ACS a validFrom whose microsecond is its fingerprint (rooms.sync
.acs_valid_from), so the room a lost create made is told from another room's with the same
window. One exact match is adopted; none creates anew; more, or a doubtful one, stops the room
for a person, who links the right one with room_adopt_acs_room (`reconcile --adopt`).
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

import acs_gateway as acs
from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import services
from rooms.drift import drift
from rooms.models import Room
from rooms.sync import (
    REPEATABILITY_WINDOW,
    acs_valid_from,
    desired_state,
    push_room,
    valid_from_held,
)
from tests.outbox_rows import book, set_book, set_sync
from tests.resilience.conftest import VirtualClock, put_on_clock

pytestmark = pytest.mark.django_db

PAST_THE_WINDOW = REPEATABILITY_WINDOW + timedelta(minutes=1)


@pytest.fixture
def clock(emulator, monkeypatch) -> VirtualClock:
    """The portal and ACS on one clock that moves only when told (ACS's 5-minute window)."""
    virtual = VirtualClock()
    monkeypatch.setattr(timezone, "now", virtual.now)
    put_on_clock(emulator, virtual, monkeypatch)
    return virtual


def _gateway() -> acs.AcsGateway:
    return acs.get_gateway()


def _acs_rooms() -> dict[str, acs.AcsRoom]:
    return {room.id: room for room in _gateway().list_rooms()}


def _window(hours: int = 2) -> tuple[datetime, datetime]:
    start = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    return start, start + timedelta(hours=hours)


def _room(actor, window, title="Board meeting") -> Room:
    return services.room_create(
        actor=actor, title=title, valid_from=window[0], valid_until=window[1]
    )


def _lost_create(emulator, room: Room) -> Room:
    """Push the room while ACS applies the create and the answer never arrives."""
    emulator.set_faults(drop_rate=1.0, drop_when="after")
    try:
        assert push_room(room.pk) == SyncState.FAILED
    finally:
        emulator.clear_faults()
    room.refresh_from_db()
    assert room.acs_id is None and book(room)["create_payload"]
    return room


def _other_made_with(sent: dict) -> acs.AcsRoom:
    """An ACS room made with exactly what a create sent (another client's, as far as ACS knows)."""
    return _gateway().create_room(
        valid_from=datetime.fromisoformat(sent["valid_from"]),
        valid_until=datetime.fromisoformat(sent["valid_until"]),
        pstn_dial_out_enabled=sent["pstn_dial_out_enabled"],
    )


# --------------------------------------------------------------------------- the fingerprint


def test_each_room_sends_acs_a_start_fingerprinted_with_its_id(emulator, scheduler):
    window = _window()
    first, second = _room(scheduler, window), _room(scheduler, window)
    marks = [acs_valid_from(first), acs_valid_from(second)]
    assert marks[0] != marks[1]
    for room, mark in zip((first, second), marks, strict=True):
        assert mark.microsecond == room.pk % 999_999 + 1
        assert room.valid_from <= mark < room.valid_from + timedelta(seconds=1)
        assert desired_state(room)["valid_from"] == mark.isoformat()
        assert push_room(room.pk) == SyncState.SYNCED
        room.refresh_from_db()
        assert _gateway().get_room(room.acs_id).valid_from == mark
        assert book(room)["state"]["valid_from"] == mark.isoformat()


def test_the_fingerprint_never_lengthens_a_full_180_day_window(emulator, scheduler):
    # ACS's own default window: from now (with its microseconds) for exactly 180 days.
    room = services.room_create(actor=scheduler, title="Long")
    mark = acs_valid_from(room)
    assert room.valid_from <= mark
    assert room.valid_until - mark <= timedelta(days=180)
    assert push_room(room.pk) == SyncState.SYNCED


def test_a_changed_start_is_patched_with_its_fingerprint_once(emulator, scheduler):
    room = _room(scheduler, _window())
    push_room(room.pk)
    room = services.room_update(
        actor=scheduler,
        room=Room.objects.get(pk=room.pk),
        expected_version=1,
        valid_from=room.valid_from + timedelta(minutes=30),
    )
    assert push_room(room.pk) == SyncState.SYNCED
    assert _gateway().get_room(room.acs_id).valid_from == acs_valid_from(room)
    before = emulator.requests()["counts"].get("Rooms_Update", 0)
    set_sync(room, state=SyncState.PENDING)
    assert push_room(room.pk) == SyncState.SYNCED
    assert emulator.requests()["counts"].get("Rooms_Update", 0) == before


def test_a_room_pushed_before_fingerprints_is_neither_patched_nor_drift(emulator, scheduler):
    """ACS and acs_state hold the portal's start exactly, as every push did before."""
    room = _room(scheduler, _window())
    push_room(room.pk)
    room.refresh_from_db()
    legacy = room.valid_from.astimezone(UTC)
    _gateway().update_room(room.acs_id, valid_from=legacy)
    set_book(room, state={**book(room)["state"], "valid_from": legacy.isoformat()})
    set_sync(room, state=SyncState.PENDING)
    before = emulator.requests()["counts"].get("Rooms_Update", 0)
    assert push_room(room.pk) == SyncState.SYNCED
    assert emulator.requests()["counts"].get("Rooms_Update", 0) == before
    assert valid_from_held(room, legacy)
    found = drift()
    assert found.in_step, found


def test_a_start_one_microsecond_off_in_acs_is_drift(emulator, scheduler):
    room = _room(scheduler, _window())
    push_room(room.pk)
    room.refresh_from_db()
    _gateway().update_room(room.acs_id, valid_from=acs_valid_from(room) + timedelta(microseconds=1))
    found = drift()
    assert (found.differences, found.pending) == (found.fields, [])
    [difference] = found.fields
    assert difference.field == "valid_from"


# --------------------------------------------------------------------------- adopting


def test_the_one_room_only_this_create_can_have_made_is_adopted(emulator, scheduler, clock):
    window = _window()
    room = _lost_create(emulator, _room(scheduler, window))
    [made] = _acs_rooms().values()
    # Another portal room with the same window has its own ACS room (made after ours).
    twin = _room(scheduler, window, title="Twin")
    assert push_room(twin.pk) == SyncState.SYNCED

    clock.advance(PAST_THE_WINDOW)
    assert push_room(room.pk) == SyncState.SYNCED
    room.refresh_from_db()
    assert room.acs_id == made.id
    assert len(_acs_rooms()) == 2, "nothing was created again"
    assert AuditEvent.objects.filter(action="acs.room.adopted", room_id=room.pk).exists()
    found = drift()
    assert found.in_step, found


def test_with_no_room_it_can_have_made_the_room_is_created_anew(emulator, scheduler, clock):
    room = _lost_create(emulator, _room(scheduler, _window()))
    [made] = _acs_rooms().values()
    _gateway().delete_room(made.id)  # say ACS dropped it
    first_request = book(room)["create_request_id"]

    clock.advance(PAST_THE_WINDOW)
    assert push_room(room.pk) == SyncState.SYNCED
    room.refresh_from_db()
    assert room.acs_id and room.acs_id != made.id
    assert book(room)["create_request_id"] != first_request
    assert len(_acs_rooms()) == 1


def test_two_rooms_it_may_have_made_stop_the_room_naming_both(emulator, scheduler, clock):
    room = _lost_create(emulator, _room(scheduler, _window()))
    [made] = _acs_rooms().values()
    other = _other_made_with(book(room)["create_payload"])

    clock.advance(PAST_THE_WINDOW)
    assert push_room(room.pk) == SyncState.STOPPED
    room.refresh_from_db()
    assert room.acs_id is None
    assert made.id in room.sync.last_error and other.id in room.sync.last_error
    assert f"reconcile --adopt {room.pk} ACS_ID" in room.sync.last_error
    assert room.sync.next_try_at is None
    assert len(_acs_rooms()) == 2, "nothing was created or adopted"


def test_one_room_that_does_not_match_exactly_stops_the_room_too(emulator, scheduler, clock):
    room = _lost_create(emulator, _room(scheduler, _window()))
    [made] = _acs_rooms().values()
    # Same fingerprinted start, but ACS holds another end: changed since, or someone else's.
    _gateway().update_room(made.id, valid_until=room.valid_until + timedelta(hours=1))

    clock.advance(PAST_THE_WINDOW)
    assert push_room(room.pk) == SyncState.STOPPED
    room.refresh_from_db()
    assert room.acs_id is None and made.id in room.sync.last_error
    assert len(_acs_rooms()) == 1


def test_reconcile_shows_a_stopped_rooms_candidates_and_fix_keeps_them(
    emulator, scheduler, superuser, clock
):
    room = _lost_create(emulator, _room(scheduler, _window()))
    other = _other_made_with(book(room)["create_payload"])
    clock.advance(PAST_THE_WINDOW)
    push_room(room.pk)

    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile", "--fix", stdout=out, stderr=io.StringIO())
    assert exited.value.code == 1
    assert "Made by a lost create (a person must choose) (2):" in out.getvalue()
    assert f"reconcile --adopt {room.pk} {other.id}" in out.getvalue()
    assert len(_acs_rooms()) == 2, "--fix deletes no room a lost create may have made"


def test_a_person_links_the_right_room_and_the_push_goes_on(
    emulator, scheduler, auditor, clock, django_capture_on_commit_callbacks
):
    room = _lost_create(emulator, _room(scheduler, _window()))
    [made] = _acs_rooms().values()
    other = _other_made_with(book(room)["create_payload"])
    clock.advance(PAST_THE_WINDOW)
    push_room(room.pk)

    with pytest.raises(PermissionDenied):
        services.room_adopt_acs_room(actor=auditor, room=room, acs_id=made.id)
    with django_capture_on_commit_callbacks(execute=True):
        linked = services.room_adopt_acs_room(actor=scheduler, room=room, acs_id=made.id)
    assert linked.acs_id == made.id
    assert push_room(room.pk) == SyncState.SYNCED
    room.refresh_from_db()
    assert (room.acs_id, room.sync.last_error, book(room)["create_payload"]) == (made.id, "", {})
    event = AuditEvent.objects.get(action="portal.room.acs_room_adopted")
    assert (event.actor, event.changes["acs_id"]["after"]) == (scheduler, made.id)
    # The one not chosen is an orphan now, for reconcile to report (and --fix to delete).
    found = drift()
    assert (found.differences, found.pending) == (found.only_in_acs, [])
    assert [d.acs_room.id for d in found.only_in_acs] == [other.id]


def test_linking_refuses_a_room_owned_linked_or_unknown(emulator, scheduler, clock):
    owner = _room(scheduler, _window(), title="Owner")
    push_room(owner.pk)
    owner.refresh_from_db()
    room = _lost_create(emulator, _room(scheduler, _window()))
    for acs_id, message in (
        (owner.acs_id, f"belongs to portal room {owner.pk}"),
        ("123456789012345678", "ACS has no room 123456789012345678"),
        ("12; DROP", "is not an ACS room id"),
    ):
        with pytest.raises(ValidationError, match=message):
            services.room_adopt_acs_room(actor=scheduler, room=room, acs_id=acs_id)
    with pytest.raises(ValidationError, match="is linked to ACS room"):
        services.room_adopt_acs_room(actor=scheduler, room=owner, acs_id=owner.acs_id)
    room.refresh_from_db()
    assert room.acs_id is None and not room.sync.holder


def test_reconcile_adopt_links_as_the_named_user_and_refuses_others(
    emulator, scheduler, auditor, clock
):
    room = _lost_create(emulator, _room(scheduler, _window()))
    [made] = _acs_rooms().values()
    _other_made_with(book(room)["create_payload"])
    clock.advance(PAST_THE_WINDOW)
    push_room(room.pk)

    with pytest.raises(CommandError, match="rooms.change_room"):
        call_command(
            "reconcile",
            "--adopt",
            str(room.pk),
            made.id,
            "--as",
            auditor.username,
            stdout=io.StringIO(),
        )
    out = io.StringIO()
    call_command(
        "reconcile", "--adopt", str(room.pk), made.id, "--actor", scheduler.username, stdout=out
    )
    assert f"Linked room {room.pk}" in out.getvalue()
    room.refresh_from_db()
    assert room.acs_id == made.id


def test_a_create_answered_with_a_room_another_row_owns_stops_instead_of_crashing(
    emulator, scheduler, clock
):
    room = _lost_create(emulator, _room(scheduler, _window()))
    [made] = _acs_rooms().values()
    # Say another row took it (the bug this replaces: adopting the newest match).
    thief = _room(scheduler, _window(), title="Thief")
    Room.objects.filter(pk=thief.pk).update(acs_id=made.id)

    # Within the window the replay answers with that room.
    assert push_room(room.pk) == SyncState.STOPPED
    room.refresh_from_db()
    assert room.acs_id is None
    assert f"ACS room {made.id}, which portal room {thief.pk} owns" in room.sync.last_error


def test_a_deleted_room_whose_create_is_unsure_deletes_nothing_and_goes(
    emulator, scheduler, clock, django_capture_on_commit_callbacks
):
    room = _lost_create(emulator, _room(scheduler, _window()))
    _other_made_with(book(room)["create_payload"])
    services.room_delete(actor=scheduler, room=room)
    clock.advance(PAST_THE_WINDOW)
    assert push_room(room.pk) == "deleted"
    assert not Room.objects.filter(pk=room.pk).exists()
    assert len(_acs_rooms()) == 2, "neither may be deleted: either may be another's"
    assert AuditEvent.objects.filter(action="acs.room.orphan_suspected", room_id=room.pk).exists()
