"""A push holds its lease for as long as it works: renewed before every ACS call.

One push can take several ACS calls of up to 40 s each, longer than the 60 s lease; before the
lease was renewed, a second worker could take the room mid-push and push it again.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

import acs_gateway as acs
from identities.services import NewPerson
from identities.sync import push_identity
from outbox import engine as machinery
from outbox.engine import Lease, LeaseLost
from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import services
from rooms.models import Room
from rooms.sync import push_room
from tests.outbox_rows import book, rows, set_sync, sync_row


def _room(actor, people=()) -> Room:
    start = timezone.now() + timedelta(hours=1)
    return services.room_create(
        actor=actor,
        title="Long push",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[services.ParticipantEntry(NewPerson(*person)) for person in people],
    )


@pytest.mark.django_db
def test_renewing_extends_the_lease_and_fails_once_another_worker_has_it(scheduler):
    room = _room(scheduler)
    lease = machinery.claim("room", room.pk, "a")
    assert isinstance(lease, Lease)
    set_sync(room, held_until=timezone.now() - timedelta(seconds=1))
    lease.renew()  # ran out, but nobody took it: still ours
    assert sync_row(room).held_until > timezone.now() + machinery.LEASE - timedelta(seconds=5)
    set_sync(room, held_until=timezone.now() - timedelta(seconds=1))
    assert machinery.claim("room", room.pk, "b")
    with pytest.raises(LeaseLost):
        lease.renew()
    with pytest.raises(LeaseLost):
        lease.record(state={"x": 1})
    row = sync_row(room)
    assert (row.holder, row.acs.get("state", {})) == ("b", {})


@pytest.mark.django_db
def test_a_push_whose_lease_was_taken_during_a_call_writes_nothing(
    emulator, scheduler, monkeypatch
):
    room = _room(scheduler)
    real = acs.AcsGateway.create_room

    def slow_create(self, **kwargs):
        # The call outlasts the lease, and another worker takes the room meanwhile.
        set_sync(room, holder="other-worker")
        return real(self, **kwargs)

    monkeypatch.setattr(acs.AcsGateway, "create_room", slow_create)
    assert push_room(room.pk) == "lost"
    room.refresh_from_db()
    assert (room.acs_id, book(room).get("state", {})) == (None, {})
    assert room.sync.holder == "other-worker"
    assert room.sync.state == SyncState.PENDING and room.sync.last_error == ""


@pytest.mark.django_db
def test_an_identity_push_whose_lease_was_taken_writes_no_acs_id(emulator, scheduler, monkeypatch):
    from identities.services import identity_create

    identity = identity_create(actor=scheduler, display_name="Ada", email="ada@example.com")
    real = acs.AcsGateway.create_user

    def slow_create(self, **kwargs):
        set_sync(identity, holder="other-worker")
        return real(self, **kwargs)

    monkeypatch.setattr(acs.AcsGateway, "create_user", slow_create)
    assert push_identity(identity.pk) == "lost"
    identity.refresh_from_db()
    assert (identity.raw_id, identity.sync.holder) == (None, "other-worker")


@pytest.mark.django_db
def test_every_acs_call_of_a_push_renews_the_lease_first(emulator, scheduler, monkeypatch):
    room = _room(scheduler, [("Ada", "ada@example.com"), ("Alan", "alan@example.com")])
    renewed: list[str] = []
    real = Lease.renew

    def counting(self):
        renewed.append(self.kind)
        return real(self)

    monkeypatch.setattr(Lease, "renew", counting)
    assert push_room(room.pk) == SyncState.SYNCED
    # Before each identity push (the room's), each create_user (the identity's), create_room.
    assert renewed == ["room", "identity", "room", "identity", "room"]


@pytest.mark.django_db(transaction=True)
def test_a_push_that_outlasts_the_lease_is_never_taken_over(emulator, scheduler, monkeypatch):
    """Three new people and the room: four ACS calls of 0.5 s each, against a 1 s lease.

    A second worker keeps trying to take the room from the moment the first has it; it must
    find it held every time, and ACS must get each create once.
    """
    monkeypatch.setattr(machinery, "LEASE", timedelta(seconds=1))
    room = _room(
        scheduler,
        [("Ada", "ada@example.com"), ("Alan", "alan@example.com"), ("Grace", "grace@example.com")],
    )
    emulator.set_faults(latency_ms=500)
    first_done = threading.Event()
    results: dict[str, object] = {}
    tries: list[str] = []
    tried_at: list[float] = []

    def first():
        try:
            results["first"] = push_room(room.pk, worker="first")
        except Exception as exc:  # pragma: no cover - reported by the assert below
            results["first"] = exc
        finally:
            first_done.set()
            connection.close()

    def second():
        try:
            deadline = time.monotonic() + 30
            while not rows(room).filter(holder="first").exists():
                assert time.monotonic() < deadline, "the first worker never took the room"
                time.sleep(0.01)
            while not first_done.is_set():
                tried_at.append(time.monotonic())
                tries.append(push_room(room.pk, worker="second"))
                time.sleep(0.05)
        except Exception as exc:  # pragma: no cover
            tries.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    emulator.clear_faults()

    # It found the room held every time, though it kept trying for longer than one lease. The
    # last try may come after the first worker let go and before it returned: that one finds the
    # room done (the counts below prove it pushed nothing).
    assert set(tries[:-1]) == {"busy"}, tries
    assert tried_at[-1] - tried_at[0] > 1.2, "the push took less than a lease: it tested nothing"
    counts = emulator.requests()["counts"]
    assert (counts.get("Rooms_Create"), counts.get("Identity_Create")) == (1, 3)
    assert results["first"] == SyncState.SYNCED
    assert AuditEvent.objects.filter(action="acs.room.created").count() == 1
    room.refresh_from_db()
    assert room.acs_id and room.sync.state == SyncState.SYNCED and not room.sync.holder


@pytest.mark.django_db
def test_a_room_that_makes_its_new_peoples_acs_users_itself_is_synced_by_that_push(
    emulator, scheduler
):
    # The count of people still without a user was read from the list made before their push.
    room = _room(scheduler, [("Ada", "ada@example.com")])
    assert push_room(room.pk) == SyncState.SYNCED
    room.refresh_from_db()
    assert (room.sync.state, room.sync.last_error) == (SyncState.SYNCED, "")
