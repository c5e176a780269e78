"""The benchmark seeder fills a portal quickly with synced rooms and a valid audit chain."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from benchmarks.seed import Sizes, seed, seed_emulator, services_baseline
from identities.models import Identity
from outbox.models import SyncState
from portal.models import AuditChainHead, AuditEvent
from rooms.drift import drift
from rooms.models import Participant, Room
from rooms.sync import acs_state_of, desired_state

pytestmark = pytest.mark.django_db

TINY = Sizes(rooms=30, per_room=4, identities=25, big_room=12, events=200)


@pytest.fixture
def seeded():
    return seed(TINY)


def test_it_makes_the_rooms_people_and_events_asked_for(seeded):
    assert Room.objects.count() == TINY.rooms
    assert Identity.objects.count() == TINY.identities
    assert Participant.objects.count() == (TINY.rooms - 1) * TINY.per_room + TINY.big_room
    assert AuditEvent.objects.count() == TINY.events
    assert seeded.big_room.participants.count() == TINY.big_room
    assert seeded.counts == {
        "rooms": TINY.rooms,
        "participants": (TINY.rooms - 1) * TINY.per_room + TINY.big_room,
        "identities": TINY.identities,
        "events": TINY.events,
    }


def test_it_marks_every_room_and_identity_synced(seeded):
    for model in (Room, Identity):
        assert not model.objects.exclude(sync__state=SyncState.SYNCED).exists()
        for obj in model.objects.all():
            assert obj.sync.confirmed_generation == obj.sync.generation
    assert not Room.objects.filter(acs_id__isnull=True).exists()
    assert not Identity.objects.filter(raw_id__isnull=True).exists()


def test_it_fills_acs_state_so_a_push_would_send_nothing(seeded):
    for room in Room.objects.all():
        assert acs_state_of(room) == desired_state(room)


def test_it_enqueues_nothing(seeded):
    assert DBTaskResult.objects.count() == 0


def test_it_mixes_ended_live_and_upcoming_rooms_and_several_owners(seeded):
    from django.utils import timezone

    now = timezone.now()
    assert Room.objects.filter(valid_until__lt=now).exists()
    assert Room.objects.filter(valid_from__lte=now, valid_until__gt=now).exists()
    assert Room.objects.filter(valid_from__gt=now).exists()
    assert Room.objects.values("owner").distinct().count() > 3
    assert Room.objects.filter(title__icontains="budget").count() < Room.objects.count()


def test_it_chains_the_audit_events_so_audit_verify_passes(seeded):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert f"intact: {TINY.events} events" in out.getvalue()
    head = AuditChainHead.objects.get()
    assert head.length == TINY.events
    assert head.last_event_id == AuditEvent.objects.order_by("-pk").first().pk


def test_the_emulator_seeded_from_it_shows_no_drift(seeded, emulator):
    held = seed_emulator(emulator)
    assert 0 < held < Room.objects.count()  # the rooms that ended are not in ACS
    found = drift()
    assert found.in_step, found


def test_the_services_baseline_runs_through_the_services_and_leaves_nothing(seeded):
    rooms, events = Room.objects.count(), AuditEvent.objects.count()
    per = services_baseline(seeded)
    assert per["room"] > 0 and per["event"] > 0
    assert (Room.objects.count(), AuditEvent.objects.count()) == (rooms, events)
