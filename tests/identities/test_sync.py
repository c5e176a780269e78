"""An identity's ACS user is made once: a create whose answer was lost is replayed, never repeated.

ACS's Identity API cannot list users, so a user made by a create whose answer never came cannot
be found afterwards. Every retry sends the first request's Repeatability-Request-ID and -First-
Sent, inside ACS's 5-minute window; past it, with the outcome unknown, the identity stops.
"""

from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

import acs_gateway as acs
from identities import services
from identities.models import Identity
from identities.sync import first_sent, push_identity
from outbox import engine as machinery
from outbox.models import SyncState
from portal.models import AuditEvent
from tests.outbox_rows import book, set_sync
from tests.resilience.conftest import VirtualClock, acs_users, put_on_clock

pytestmark = pytest.mark.django_db

PAST_THE_WINDOW = timedelta(minutes=5, seconds=30)


@pytest.fixture
def clock(emulator, monkeypatch) -> VirtualClock:
    virtual = VirtualClock()
    monkeypatch.setattr(timezone, "now", virtual.now)
    put_on_clock(emulator, virtual, monkeypatch)
    return virtual


class Spy:
    """The emulator, noting the repeatability headers of every request it serves."""

    def __init__(self, app):
        self.app = app
        self.seen: list[dict] = []

    def connection_string(self, endpoint: str) -> str:
        return self.app.connection_string(endpoint)

    def __call__(self, environ, start_response):
        self.seen.append({k: v for k, v in environ.items() if k.startswith("HTTP_REPEATABILITY")})
        return self.app(environ, start_response)


def _person(actor, name="Ada Lovelace", email="ada@example.com") -> Identity:
    return services.identity_create(actor=actor, display_name=name, email=email)


def _unanswered(emulator, identity: Identity, *, times: int = 1) -> Identity:
    """Push while ACS makes the user and the answer never arrives."""
    emulator.set_faults(drop_rate=1.0, drop_when="after")
    try:
        for _ in range(times):
            assert push_identity(identity.pk) == SyncState.FAILED
    finally:
        emulator.clear_faults()
    identity.refresh_from_db()
    assert identity.raw_id is None and book(identity)["create_unanswered"]
    return identity


def test_create_user_sends_its_repeatability_headers_and_acs_answers_with_one_user(emulator):
    spy = Spy(emulator)
    gateway = acs.AcsGateway(app=spy)
    first_sent = timezone.now()
    made = {
        gateway.create_user(
            repeatability_request_id="0f8fad5b-d9cb-469f-a165-70867728950e",
            repeatability_first_sent=first_sent,
        )
        for _ in range(3)
    }
    assert len(made) == 1
    assert spy.seen[-1] == {
        "HTTP_REPEATABILITY_REQUEST_ID": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "HTTP_REPEATABILITY_FIRST_SENT": format_datetime(first_sent, usegmt=True),
    }
    assert len(acs_users(emulator)) == 1
    gateway.create_user()  # no headers: an ordinary create
    assert spy.seen[-1] == {}
    assert len(acs_users(emulator)) == 2


def test_retries_of_a_create_whose_answers_were_lost_make_exactly_one_acs_user(
    emulator, scheduler, clock
):
    identity = _unanswered(emulator, _person(scheduler), times=3)
    assert len(acs_users(emulator)) == 1, "ACS made the user the first time"
    request_id = book(identity)["create_request_id"]

    clock.advance(timedelta(minutes=2))
    assert push_identity(identity.pk) == SyncState.SYNCED
    identity.refresh_from_db()
    assert list(acs_users(emulator)) == [identity.raw_id]
    assert book(identity)["create_request_id"] == request_id
    assert emulator.requests()["counts"]["Identity_Create"] == 4


def test_the_retry_of_an_unanswered_create_comes_inside_the_replay_window(
    emulator, scheduler, clock
):
    identity = _person(scheduler)
    # Many failures before: the backoff alone would wait 5 to 10 minutes.
    set_sync(identity, attempts=9)
    identity = _unanswered(emulator, identity)
    sent_at = first_sent(book(identity))
    retry_by = machinery.replay_retry_by(sent_at)
    assert retry_by < sent_at + timedelta(minutes=5)
    assert identity.sync.next_try_at <= retry_by
    # The sweep enqueues the retry by then (and again SWEEP_GRACE later, should it be lost).
    clock.advance(retry_by - timezone.now())
    assert machinery.sweep() == 1
    assert DBTaskResult.objects.filter(status="READY", args_kwargs__args=["identity", identity.pk])


def test_past_the_window_with_the_outcome_unknown_it_stops_for_a_person(
    emulator, scheduler, role_admin, auditor, clock, django_capture_on_commit_callbacks
):
    identity = _unanswered(emulator, _person(scheduler))
    [maybe_orphan] = acs_users(emulator)
    clock.advance(PAST_THE_WINDOW)
    creates = emulator.requests()["counts"]["Identity_Create"]

    assert push_identity(identity.pk) == SyncState.STOPPED
    identity.refresh_from_db()
    assert identity.raw_id is None and identity.sync.next_try_at is None
    assert "may have made an ACS user" in identity.sync.last_error
    assert "Retry now" in identity.sync.last_error
    request_id = book(identity)["create_request_id"]
    assert request_id in identity.sync.last_error
    assert emulator.requests()["counts"]["Identity_Create"] == creates, "nothing created blind"

    with pytest.raises(PermissionDenied):
        services.identity_retry_sync(actor=auditor, identity=identity)
    with django_capture_on_commit_callbacks(execute=True):
        services.identity_retry_sync(actor=role_admin, identity=identity)
    event = AuditEvent.objects.get(action="portal.identity.sync_requested")
    assert event.actor == role_admin
    assert request_id in event.changes["orphan_may_remain"]["after"]
    assert push_identity(identity.pk) == SyncState.SYNCED
    identity.refresh_from_db()
    assert identity.raw_id and identity.raw_id != maybe_orphan
    assert sorted(acs_users(emulator)) == sorted([maybe_orphan, identity.raw_id])


def test_past_the_window_with_every_try_answered_it_simply_creates_anew(emulator, scheduler, clock):
    identity = _person(scheduler)
    emulator.set_faults(error_rates={503: 1.0})
    assert push_identity(identity.pk) == SyncState.FAILED
    emulator.clear_faults()
    identity.refresh_from_db()
    first_request = book(identity)["create_request_id"]
    assert not book(identity)["create_unanswered"]

    clock.advance(PAST_THE_WINDOW)
    assert push_identity(identity.pk) == SyncState.SYNCED
    identity.refresh_from_db()
    assert book(identity)["create_request_id"] != first_request
    assert list(acs_users(emulator)) == [identity.raw_id]


def test_a_deleted_identity_whose_create_got_no_answer_deletes_the_user_it_made(
    emulator, scheduler, role_admin, clock
):
    identity = _unanswered(emulator, _person(scheduler))
    services.identity_delete(actor=role_admin, identity=identity)
    assert push_identity(identity.pk) == SyncState.SYNCED
    assert acs_users(emulator) == {Identity.objects.get(pk=identity.pk).raw_id: True}
