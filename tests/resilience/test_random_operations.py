"""A thousand random edits while ACS fails a fifth of its calls and the worker dies twice."""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from identities import services as identity_services
from identities.models import Identity
from identities.services import NewPerson
from outbox import engine as machinery
from outbox.models import Entry
from portal.models import AuditEvent
from portal.services import Conflict
from rooms import services
from rooms.drift import drift
from rooms.models import Participant, Role, Room
from rooms.sync import acs_valid_from
from tests.resilience.conftest import (
    acs_rooms,
    acs_users,
    audited_outcomes,
    lose_queued_tasks,
    portal_rooms,
    request_outcomes,
    settle,
    work,
    work_until_killed,
)

pytestmark = pytest.mark.django_db(transaction=True)

# RESILIENCE_SEED=n replays one run; the seed is printed with every failure.
SEED = int(os.environ.get("RESILIENCE_SEED", "6061"))
OPERATIONS = 1000
PHASES = 3
# A fifth of ACS calls fail: dropped connections (half before, half after ACS applied the call)
# and 500, 503 and 429 answers (the last two with Retry-After) in equal parts.
FAILURE_RATE = 0.20
DROP_RATE = 0.05
ERROR_RATE = (FAILURE_RATE - DROP_RATE) / (1 - DROP_RATE)
# After each edit the worker gets a turn with this chance, except in the last quarter of a phase,
# when it is down and tasks pile up.
WORKER_TURN = 0.15
LOST_TASKS = 0.3
DOWNTIME = machinery.LEASE + machinery.SWEEP_GRACE

WEIGHTS = {
    "create": 14,
    "update": 22,
    "delete": 5,
    "add": 20,
    "roles": 20,
    "remove": 10,
    "new_identity": 6,
    "delete_identity": 3,
}


@dataclass
class Expected:
    """What the portal must hold for one room, by the operations' own account."""

    title: str
    notes: str
    valid_from: object
    valid_until: object
    pstn_dial_out_enabled: bool
    participants: dict[int, str] = field(default_factory=dict)  # identity pk -> role
    version: int = 1
    deleted: bool = False


class Scenario:
    """Random operations through the services, with a model of what each one must have done."""

    def __init__(self, rng: random.Random, actor):
        self.rng = rng
        self.actor = actor
        self.rooms: dict[int, Expected] = {}
        self.people: list[int] = []  # live identity pks
        self.gone_people: set[int] = set()
        self.serial = 0
        self.actions: Counter = Counter()  # portal.* audit events the operations must have made
        self.done: Counter = Counter()

    # -- helpers

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _live_rooms(self) -> list[int]:
        return sorted(pk for pk, room in self.rooms.items() if not room.deleted)

    def _window(self):
        now = timezone.now().replace(microsecond=0)
        start = now + timedelta(hours=self.rng.randint(1, 24 * 60))
        return start, start + timedelta(hours=self.rng.randint(1, 24 * 14))

    def _role(self) -> str:
        return self.rng.choice(Role.values)

    def _newcomers(self, room_pk: int | None, count: int) -> list[services.ParticipantEntry]:
        present = set(self.rooms[room_pk].participants) if room_pk else set()
        candidates = [pk for pk in self.people if pk not in present]
        entries = []
        for pick in self.rng.sample(candidates, min(len(candidates), count)):
            if self.rng.random() < 0.6:
                entries.append(
                    services.ParticipantEntry(Identity.objects.get(pk=pick), self._role())
                )
        while len(entries) < count:
            n = self._next()
            person = NewPerson(f"Person {n}", f"person{n}@example.com")
            entries.append(services.ParticipantEntry(person, self._role()))
        return entries

    def _record_added(self, room_pk: int, added: list[Participant]) -> None:
        for participant in added:
            self.rooms[room_pk].participants[participant.identity_id] = participant.role
            if participant.identity_id not in self.people:
                self.people.append(participant.identity_id)
                self.actions["portal.identity.created"] += 1
        self.actions["portal.participant.added"] += len(added)

    # -- operations

    def run(self, name: str) -> None:
        live = self._live_rooms()
        needs_room = name in ("update", "delete", "add", "roles", "remove")
        if needs_room and not live:
            name = "create"
        if name == "delete_identity" and not self.people:
            name = "new_identity"
        getattr(self, f"op_{name}")(live)
        self.done[name] += 1

    def op_create(self, live) -> None:
        start, end = self._window()
        entries = self._newcomers(None, self.rng.randint(0, 3))
        n = self._next()
        room = services.room_create(
            actor=self.actor,
            title=f"Room {n}",
            notes=self.rng.choice(["", f"Notes {n}"]),
            valid_from=start,
            valid_until=end,
            pstn_dial_out_enabled=self.rng.random() < 0.5,
            participants=entries,
        )
        self.rooms[room.pk] = Expected(
            title=room.title,
            notes=room.notes,
            valid_from=start,
            valid_until=end,
            pstn_dial_out_enabled=room.pstn_dial_out_enabled,
        )
        self.actions["portal.room.created"] += 1
        self._record_added(room.pk, list(room.participants.all()))

    def op_update(self, live) -> None:
        pk = self.rng.choice(live)
        expected = self.rooms[pk]
        changes: dict = {}
        if self.rng.random() < 0.4:
            changes["title"] = f"Room {self._next()}"
        if self.rng.random() < 0.3:
            changes["notes"] = f"Notes {self._next()}"
        if self.rng.random() < 0.4:
            changes["pstn_dial_out_enabled"] = not expected.pstn_dial_out_enabled
        if self.rng.random() < 0.4 or not changes:
            changes["valid_from"], changes["valid_until"] = self._window()
        room = Room.objects.get(pk=pk)
        if expected.version > 1 and self.rng.random() < 0.05:
            # An editor who saw an older version: refused, and nothing changes.
            with pytest.raises(Conflict):
                services.room_update(
                    actor=self.actor, room=room, expected_version=expected.version - 1, **changes
                )
            self.done["conflict"] += 1
            return
        updated = services.room_update(
            actor=self.actor, room=room, expected_version=expected.version, **changes
        )
        for name, value in changes.items():
            setattr(expected, name, value)
        expected.version += 1
        assert updated.version == expected.version
        self.actions["portal.room.updated"] += 1

    def op_delete(self, live) -> None:
        pk = self.rng.choice(live)
        expected = self.rooms[pk]
        services.room_delete(
            actor=self.actor, room=Room.objects.get(pk=pk), expected_version=expected.version
        )
        expected.deleted = True
        self.actions["portal.room.deleted"] += 1

    def op_add(self, live) -> None:
        pk = self.rng.choice(live)
        entries = self._newcomers(pk, self.rng.randint(1, 3))
        room = Room.objects.get(pk=pk)
        added = services.participants_add(actor=self.actor, room=room, entries=entries)
        self._record_added(pk, added)

    def _some_participants(self, live, most: int) -> tuple[int, list[Participant]]:
        with_people = [pk for pk in live if self.rooms[pk].participants]
        if not with_people:
            return 0, []
        pk = self.rng.choice(with_people)
        people = sorted(self.rooms[pk].participants)
        chosen = self.rng.sample(people, self.rng.randint(1, min(most, len(people))))
        return pk, list(Participant.objects.filter(room_id=pk, identity_id__in=chosen))

    def op_roles(self, live) -> None:
        pk, chosen = self._some_participants(live, 5)
        if not chosen:
            return self.op_add(live)
        roles = {p.pk: self._role() for p in chosen}
        services.participants_roles_change(
            actor=self.actor, room=Room.objects.get(pk=pk), roles=roles
        )
        for participant in chosen:
            if participant.role != roles[participant.pk]:
                self.actions["portal.participant.role_changed"] += 1
            self.rooms[pk].participants[participant.identity_id] = roles[participant.pk]

    def op_remove(self, live) -> None:
        pk, chosen = self._some_participants(live, 2)
        if not chosen:
            return self.op_add(live)
        services.participants_remove(
            actor=self.actor, room=Room.objects.get(pk=pk), participant_ids=[p.pk for p in chosen]
        )
        for participant in chosen:
            del self.rooms[pk].participants[participant.identity_id]
        self.actions["portal.participant.removed"] += len(chosen)

    def op_new_identity(self, live) -> None:
        n = self._next()
        identity = identity_services.identity_create(
            actor=self.actor, display_name=f"Person {n}", email=f"person{n}@example.com"
        )
        self.people.append(identity.pk)
        self.actions["portal.identity.created"] += 1

    def op_delete_identity(self, live) -> None:
        pk = self.rng.choice(self.people)
        # Also rows of deleted rooms whose removal from ACS is still pending: they go too.
        places = Participant.objects.filter(identity_id=pk).count()
        identity_services.identity_delete(actor=self.actor, identity=Identity.objects.get(pk=pk))
        self.people.remove(pk)
        self.gone_people.add(pk)
        for room in self.rooms.values():
            room.participants.pop(pk, None)
        self.actions["portal.participant.removed"] += places
        self.actions["portal.identity.deleted"] += 1


def _phase(scenario: Scenario, world: random.Random, clock, count: int, phase: int, log) -> None:
    """`count` edits; the worker takes turns, then is down for the last quarter of the phase.

    The edits draw from the scenario's generator and everything else (the worker's turns, the
    time between them, where it dies, which tasks are lost) from `world`, so the edits stay the
    same whatever the worker does.
    """
    names, weights = zip(*WEIGHTS.items(), strict=True)
    worker_down_from = count - count // 4
    for index in range(count):
        try:
            scenario.run(scenario.rng.choices(names, weights)[0])
        except ValidationError as exc:  # the model never asks for an invalid edit
            raise AssertionError(f"operation {index} of phase {phase} refused: {exc}") from exc
        if index < worker_down_from and world.random() < WORKER_TURN:
            # Some seconds pass between turns, so some retries come due, as they would.
            clock.advance(timedelta(seconds=world.uniform(0, 4)))
            work()
    if phase < PHASES:
        # The worker dies in the middle of a push, a share of the queue is lost, and the worker
        # stays down long enough for its lease to run out and the sweeper to find what is overdue.
        died_in = work_until_killed(after_calls=world.randint(1, 8))
        lost = lose_queued_tasks(world, LOST_TASKS)
        clock.advance(DOWNTIME)
        swept = machinery.sweep()
        log.append(f"phase {phase}: died in {died_in}, lost {lost} task(s), swept {swept}")
        work()
        # The sweeper found every push whose task was lost or whose worker died: none is left
        # waiting without a task, and the dead worker's lease is gone. (Failed pushes wait for
        # their retry time, with or without a task: the sweeper finds those when they are due.)
        stranded = Entry.objects.filter(Q(state="pending") | Q(holder__gt=""))
        assert not stranded.exists(), f"phase {phase}: stranded {list(stranded)}"


def test_a_thousand_random_edits_reach_acs_exactly_despite_faults_and_a_dying_worker(
    emulator, role_admin, seeded_jitter, clock, fast_commits
):
    seed = SEED
    print(f"resilience seed: {seed} (replay with RESILIENCE_SEED={seed})")
    try:
        _run(emulator, role_admin, seeded_jitter, clock, seed)
    except AssertionError as exc:
        exc.add_note(f"resilience seed: {seed} (replay with RESILIENCE_SEED={seed})")
        raise


def _run(emulator, actor, seeded_jitter, clock, seed: int) -> None:
    world = random.Random(f"world {seed}")
    seeded_jitter(seed)
    emulator.set_faults(
        error_rates=dict.fromkeys((429, 500, 503), ERROR_RATE / 3),
        drop_rate=DROP_RATE,
        drop_when="either",
        seed=seed,
    )
    scenario = Scenario(random.Random(seed), actor)
    log: list[str] = []
    per_phase = OPERATIONS // PHASES
    for phase in range(1, PHASES + 1):
        count = per_phase if phase < PHASES else OPERATIONS - per_phase * (PHASES - 1)
        _phase(scenario, world, clock, count, phase, log)
    print("\n".join(log), scenario.done, sep="\n")

    emulator.clear_faults()
    rounds = settle(clock)
    print(f"settled in {rounds} round(s)")
    # Read before anything else asks ACS: the checks below read ACS too, without recording it.
    failed_requests, ok_requests = request_outcomes(emulator)
    _report_problems()
    assert sum(failed_requests.values()) > 100, "the faults were not injected"

    _assert_no_change_is_lost(scenario)
    _assert_acs_equals_the_portal()
    _assert_every_call_is_in_the_history(failed_requests, ok_requests)
    _assert_acs_users_match_the_identities(emulator)
    _assert_every_room_has_its_successful_push(scenario)
    assert (
        Counter(
            AuditEvent.objects.filter(action__in=list(scenario.actions)).values_list(
                "action", flat=True
            )
        )
        == +scenario.actions
    )


def _report_problems() -> None:
    """Print what is wrong before asserting, so one failing run shows every problem it found."""
    for room in Room.objects.exclude(sync__state="synced"):
        print(f"room {room.pk} is {room.sync.state}: {room.sync.last_error}")
    print(drift())


def _assert_no_change_is_lost(scenario: Scenario) -> None:
    """(c) The portal holds exactly what the operations did; deleted rooms left it entirely."""
    live = {pk: room for pk, room in scenario.rooms.items() if not room.deleted}
    assert set(Room.objects.values_list("pk", flat=True)) == set(live), "tombstones remain"
    for room in Room.objects.all():
        expected = live[room.pk]
        held = {
            name: getattr(room, name)
            for name in ("title", "notes", "valid_from", "valid_until", "pstn_dial_out_enabled")
        }
        wanted = {name: getattr(expected, name) for name in held}
        assert held == wanted, f"room {room.pk}"
        assert room.version == expected.version, f"room {room.pk}"
        roster = dict(room.participants.values_list("identity_id", "role"))
        assert roster == expected.participants, f"room {room.pk}"
        assert (room.sync.state, room.sync.last_error, room.sync.holder) == ("synced", "", ""), (
            f"room {room.pk}"
        )
        assert room.sync.confirmed_generation == room.sync.generation, f"room {room.pk}"
    for identity in Identity.objects.filter(pk__in=scenario.people):
        assert identity.raw_id and identity.sync.state == "synced", f"identity {identity.pk}"
    assert not Identity.objects.filter(pk__in=scenario.gone_people, deleted_at__isnull=True)


def _assert_acs_equals_the_portal() -> None:
    """(a) and (b): every live room is in ACS once, as the portal holds it, and nothing else is."""
    held, shown = acs_rooms(), portal_rooms()
    assert None not in shown, "a live room was never created in ACS"
    only_in_acs = sorted(held.keys() - shown.keys())
    only_in_portal = sorted(shown.keys() - held.keys())
    assert not only_in_acs, f"ACS rooms no portal room owns (orphans): {only_in_acs}"
    assert not only_in_portal, f"portal rooms ACS lacks: {only_in_portal}"
    assert len(held) == Room.objects.count()
    for acs_id, room in shown.items():
        assert held[acs_id] == room, f"ACS room {acs_id}"
    found = drift()
    assert found.in_step, found


def _assert_acs_users_match_the_identities(emulator) -> None:
    """Each identity has its ACS user, deleted with it, and ACS has no other user.

    A create whose answer was lost after ACS made the user is replayed with its
    Repeatability-Request-ID, so ACS answers with that user instead of making another (before,
    12 to 28 users per run were left behind, unused and named by no portal row).
    """
    users = acs_users(emulator)
    named = dict(Identity.objects.exclude(raw_id=None).values_list("raw_id", "deleted_at"))
    for raw_id, deleted_at in named.items():
        assert raw_id in users, f"ACS lacks the user {raw_id}"
        assert users[raw_id] == (deleted_at is not None), f"ACS user {raw_id}"
    unnamed = [raw_id for raw_id in users if raw_id not in named]
    lost_answers = sum(
        1
        for request in emulator.requests()["requests"]
        if request["operation"] == "Identity_Create" and request["fault"] == "drop-after"
    )
    assert lost_answers > 0, "no create answer was lost: the run proves nothing about them"
    assert unnamed == [], f"{len(unnamed)} ACS user(s) left behind by {lost_answers} lost answers"


def _assert_every_call_is_in_the_history(failed_requests: Counter, ok_requests: Counter) -> None:
    """(d) Each call ACS saw, failed or not, is one acs.* event with the same operation and status.

    A dropped connection is the gateway's status None; ACS logs it as status 0. The relation is
    equality, call for call, because the sync records every attempt (and a worker killed after
    ACS answered had recorded that answer already).
    """
    failed_events, ok_events = audited_outcomes()
    assert failed_events == failed_requests
    assert ok_events == ok_requests
    assert AuditEvent.objects.filter(action__endswith="_failed").count() == sum(
        failed_requests.values()
    )


def _assert_every_room_has_its_successful_push(scenario: Scenario) -> None:
    for room in Room.objects.all():
        pushes = AuditEvent.objects.filter(room_id=room.pk, action__startswith="acs.room.")
        assert pushes.filter(action="acs.room.created").exists(), f"room {room.pk}"
        last = pushes.order_by("-pk").first()
        assert not last.action.endswith("_failed"), f"room {room.pk}: {last.action}"
    for pk, expected in scenario.rooms.items():
        if expected.deleted:
            assert AuditEvent.objects.filter(room_id=pk, action="acs.room.removed").exists()


# --------------------------------------------------------------------------- what the run found


def _room(actor, *, participants=(), **fields) -> Room:
    start = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    return services.room_create(
        actor=actor,
        title="Found by the random run",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=participants,
        **fields,
    )


def _acs_room_ids() -> list[str]:
    return sorted(acs_rooms())


# When the retry of a create whose answer was lost comes: inside ACS's 5-minute replay window
# (the next backoff), or after it (a worker that was down for longer).
RETRY_WITHIN_WINDOW = timedelta(seconds=5)
RETRY_AFTER_WINDOW = timedelta(minutes=6)


def _retry(clock, wait: timedelta) -> None:
    clock.advance(wait)
    machinery.sweep()
    work()
    settle(clock)


def _lost_create(emulator, actor) -> Room:
    """A room whose create ACS applied but whose answer never came back."""
    emulator.set_faults(drop_rate=1.0, drop_when="after")
    room = _room(actor)
    work()
    emulator.clear_faults()
    room.refresh_from_db()
    assert room.acs_id is None
    assert len(_acs_room_ids()) == 1, "ACS applied the create whose answer was lost"
    return room


def test_a_participant_whose_acs_user_came_late_still_reaches_acs(emulator, role_admin, clock):
    room = _room(role_admin)
    work()
    # ACS's Identity API fails while the person is added: the room's push cannot send them yet.
    emulator.set_faults(error_rates={503: 1.0})
    services.participants_add(
        actor=role_admin,
        room=room,
        entries=[services.ParticipantEntry(NewPerson("Late Comer", "late@example.com"))],
    )
    work()
    emulator.clear_faults()
    settle(clock)

    identity = Identity.objects.get(email="late@example.com")
    assert identity.raw_id
    room.refresh_from_db()
    assert acs_rooms()[room.acs_id]["participants"] == {identity.raw_id: Role.ATTENDEE}


@pytest.mark.parametrize("wait", [RETRY_WITHIN_WINDOW, RETRY_AFTER_WINDOW], ids=["within", "after"])
def test_a_room_edited_after_its_create_answer_was_lost_is_created_once_with_the_edit(
    emulator, role_admin, clock, wait
):
    room = _lost_create(emulator, role_admin)
    services.room_update(
        actor=role_admin, room=room, expected_version=room.version, pstn_dial_out_enabled=True
    )
    _retry(clock, wait)

    room.refresh_from_db()
    assert (room.sync.state, room.sync.last_error) == ("synced", "")
    assert _acs_room_ids() == [room.acs_id]
    assert acs_rooms()[room.acs_id]["pstn_dial_out_enabled"] is True


@pytest.mark.parametrize("wait", [RETRY_WITHIN_WINDOW, RETRY_AFTER_WINDOW], ids=["within", "after"])
def test_a_room_moved_after_its_create_answer_was_lost_is_created_once_at_its_new_time(
    emulator, role_admin, clock, wait
):
    room = _lost_create(emulator, role_admin)
    later = room.valid_from + timedelta(days=1)
    services.room_update(
        actor=role_admin,
        room=room,
        expected_version=room.version,
        valid_from=later,
        valid_until=later + timedelta(hours=1),
    )
    _retry(clock, wait)

    room.refresh_from_db()
    assert (room.sync.state, room.sync.last_error) == ("synced", "")
    assert _acs_room_ids() == [room.acs_id]
    # The new start, with the room's fingerprint (rooms.sync.acs_valid_from).
    assert acs_rooms()[room.acs_id]["valid_from"] == acs_valid_from(room)
    assert acs_valid_from(room) - later < timedelta(seconds=1)


@pytest.mark.parametrize("wait", [RETRY_WITHIN_WINDOW, RETRY_AFTER_WINDOW], ids=["within", "after"])
def test_a_room_given_a_new_person_after_its_create_answer_was_lost_is_created_once(
    emulator, role_admin, clock, wait
):
    room = _lost_create(emulator, role_admin)
    services.participants_add(
        actor=role_admin,
        room=room,
        entries=[services.ParticipantEntry(NewPerson("Ada", "ada@example.com"), Role.PRESENTER)],
    )
    _retry(clock, wait)

    room.refresh_from_db()
    assert (room.sync.state, room.sync.last_error) == ("synced", "")
    assert _acs_room_ids() == [room.acs_id]
    ada = Identity.objects.get(email="ada@example.com")
    assert acs_rooms()[room.acs_id]["participants"] == {ada.raw_id: Role.PRESENTER}


@pytest.mark.parametrize("wait", [RETRY_WITHIN_WINDOW, RETRY_AFTER_WINDOW], ids=["within", "after"])
def test_a_room_deleted_after_its_create_answer_was_lost_leaves_no_room_in_acs(
    emulator, role_admin, clock, wait
):
    room = _lost_create(emulator, role_admin)
    services.room_delete(actor=role_admin, room=room, expected_version=room.version)
    _retry(clock, wait)

    assert not Room.objects.filter(pk=room.pk).exists()
    assert _acs_room_ids() == []
