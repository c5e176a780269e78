"""Creates whose answers were lost, for rooms with one window: each room keeps its own ACS room.

Found by hand: with every create answer dropped after ACS applied it, rooms A and A2 made with
one window, and four minutes later B copied from A (room_duplicate copies the window exactly),
the retries at 5.5 minutes had A adopt B's ACS room (the newest match), B's replays fail on the
unique ACS id until its window passed and B made a third room, and A's own room stayed behind
with no owner.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

import acs_gateway as acs
from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import services
from rooms.drift import drift
from rooms.models import Room
from rooms.sync import acs_valid_from
from tests.outbox_rows import let_retries_come
from tests.resilience.conftest import settle, work

pytestmark = pytest.mark.django_db


def test_rooms_sharing_a_window_each_keep_the_acs_room_their_lost_create_made(
    emulator, scheduler, clock, django_capture_on_commit_callbacks
):
    emulator.set_faults(drop_rate=1.0, drop_when="after")
    start = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    window = {"valid_from": start, "valid_until": start + timedelta(hours=1)}
    with django_capture_on_commit_callbacks(execute=True):
        a = services.room_create(actor=scheduler, title="A", **window)
        a2 = services.room_create(actor=scheduler, title="A2", **window)
    work()

    clock.advance(timedelta(minutes=4))
    with django_capture_on_commit_callbacks(execute=True):
        b = services.room_duplicate(actor=scheduler, room=a, title="B")
    assert (b.valid_from, b.valid_until) == (a.valid_from, a.valid_until)
    work()  # B's create, and A's and A2's replays: all applied or replayed, none answered
    assert not Room.objects.exclude(acs_id=None).exists()

    clock.advance(timedelta(minutes=1, seconds=30))
    emulator.clear_faults()
    made = sorted(acs.get_gateway().list_rooms(), key=lambda room: room.created_at)
    assert len(made) == 3, "ACS applied each create once; the replays made nothing"
    let_retries_come()
    work()  # A and A2 are past the replay window, B is within it

    rooms = {room.title: room for room in Room.objects.all()}
    assert {title: room.sync.state for title, room in rooms.items()} == dict.fromkeys(
        ("A", "A2", "B"), SyncState.SYNCED
    )
    # B's is the last one made; A's and A2's are told apart by their fingerprints.
    assert rooms["B"].acs_id == made[2].id
    by_id = {room.id: room for room in made}
    for room in rooms.values():
        assert by_id[room.acs_id].valid_from == acs_valid_from(room), room.title
    assert sorted(room.acs_id for room in rooms.values()) == sorted(by_id)

    settle(clock)
    assert len(list(acs.get_gateway().list_rooms())) == 3, "nothing was created twice"
    found = drift()
    assert not found.only_in_acs, found
    assert found.in_step, found
    adopted = AuditEvent.objects.filter(action="acs.room.adopted")
    assert sorted(adopted.values_list("room_id", flat=True)) == sorted([a.pk, a2.pk])
