"""An invitation reaches the inbox exactly once when ACS Email fails, is slow, or loses its
answer, and when the worker dies mid-send: the operation id is recorded before the first send
and every retry sends under it."""

from datetime import timedelta

import pytest
from django.utils import timezone

import acs_gateway.email as acs_email
from identities.services import NewPerson
from invitations import delivery
from invitations.models import Invitation, Status
from invitations.services import invitation_resend, scan_all
from outbox import engine
from outbox.models import Entry, SyncState
from portal.models import AuditEvent
from rooms import services
from tests.conftest import run_tasks
from tests.outbox_rows import let_retries_come

pytestmark = pytest.mark.django_db

ADA = ("Ada Lovelace", "ada@example.com")


class WorkerKilled(BaseException):  # noqa: N818 - what happens, not an error kind
    """The worker died (SIGKILL): nothing after the raise runs, the lease stays taken."""


@pytest.fixture
def room_in_acs(scheduler, inbox):
    """A room with Ada, pushed to ACS; her invitation not yet seen."""
    start = timezone.now() + timedelta(days=1)
    room = services.room_create(
        actor=scheduler,
        title="Board meeting",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[services.ParticipantEntry(NewPerson(*ADA))],
    )
    run_tasks()  # the room's own push, before any fault is set
    return room


def _see_changes(capture) -> Invitation:
    with capture(execute=True):
        scan_all()
    return Invitation.objects.get()


def _entry(invitation: Invitation) -> Entry:
    return Entry.objects.get(kind="invitation", object_id=invitation.pk)


def _operation_ids(room) -> set[str]:
    return {
        event.acs_outcome["operation_id"]
        for event in AuditEvent.objects.filter(
            room_id=room.pk, action__startswith="acs.invitation."
        )
    }


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"drop_rate": 1.0, "drop_when": "after"}, id="answer-lost-after-send"),
        pytest.param({"drop_rate": 1.0, "drop_when": "before"}, id="connection-dropped-before"),
        pytest.param({"error_rates": {503: 1.0}}, id="service-unavailable"),
        pytest.param({"error_rates": {500: 1.0}}, id="internal-error"),
        pytest.param({"error_rates": {429: 1.0}}, id="throttled"),
    ],
)
def test_a_failed_send_is_retried_and_delivered_once(
    room_in_acs, emulator, inbox, django_capture_on_commit_callbacks, faults
):
    invitation = _see_changes(django_capture_on_commit_callbacks)
    emulator.set_faults(**faults)
    run_tasks()
    invitation.refresh_from_db()
    assert invitation.status == Status.SENDING
    assert _entry(invitation).state == SyncState.FAILED
    operation_id = _entry(invitation).acs["operation_id"]
    assert invitation.operation_id == operation_id
    # Tried again while ACS still fails: still the same operation.
    let_retries_come()
    run_tasks()
    emulator.clear_faults()
    let_retries_come()
    run_tasks()
    invitation.refresh_from_db()
    assert invitation.status == Status.SENT
    assert len(inbox(ADA[1])) == 1
    assert inbox(ADA[1])[0]["operationId"] == operation_id
    assert _operation_ids(room_in_acs) == {operation_id}
    assert AuditEvent.objects.filter(action="acs.invitation.send_failed").count() >= 2
    assert AuditEvent.objects.filter(action="acs.invitation.sent").count() == 1


def test_a_send_acs_takes_too_long_to_finish_is_asked_again_under_the_same_id(
    room_in_acs, emulator, inbox, django_capture_on_commit_callbacks, monkeypatch
):
    invitation = _see_changes(django_capture_on_commit_callbacks)
    # ACS accepted the message but reports it running past the client's patience.
    emulator.email.set_retry_after(30)
    monkeypatch.setattr(acs_email, "POLL_TIMEOUT_S", 0.05)
    run_tasks()
    invitation.refresh_from_db()
    assert invitation.status == Status.SENDING
    assert "had not finished" in _entry(invitation).last_error
    emulator.email.set_retry_after(0.01)
    monkeypatch.setattr(acs_email, "POLL_TIMEOUT_S", 30)
    let_retries_come()
    run_tasks()
    invitation.refresh_from_db()
    assert invitation.status == Status.SENT
    assert len(inbox(ADA[1])) == 1


def test_the_operation_id_is_recorded_before_the_first_send(
    room_in_acs, inbox, django_capture_on_commit_callbacks, monkeypatch
):
    invitation = _see_changes(django_capture_on_commit_callbacks)
    real_send = delivery.send
    seen: list[tuple[str, str]] = []

    def send(**kwargs):
        seen.append((kwargs["operation_id"], _entry(invitation).acs.get("operation_id")))
        return real_send(**kwargs)

    monkeypatch.setattr(delivery, "send", send)
    run_tasks()
    assert len(seen) == 1
    sent_with, recorded = seen[0]
    assert sent_with == recorded


def test_a_worker_killed_after_acs_took_the_message_does_not_send_it_twice(
    room_in_acs, inbox, django_capture_on_commit_callbacks, monkeypatch
):
    invitation = _see_changes(django_capture_on_commit_callbacks)
    real_send = delivery.send

    def send_then_die(**kwargs):
        real_send(**kwargs)
        raise WorkerKilled

    monkeypatch.setattr(delivery, "send", send_then_die)
    with pytest.raises(WorkerKilled):
        engine.push("invitation", invitation.pk, worker="doomed")
    assert len(inbox(ADA[1])) == 1
    monkeypatch.setattr(delivery, "send", real_send)
    # The dead worker's lease runs out; the sweep hands the send to another worker.
    Entry.objects.filter(kind="invitation").update(
        held_until=timezone.now() - timedelta(seconds=1), next_try_at=timezone.now()
    )
    let_retries_come()
    run_tasks()
    invitation.refresh_from_db()
    assert invitation.status == Status.SENT
    assert len(inbox(ADA[1])) == 1


def test_resending_makes_a_new_operation_and_one_more_message(
    room_in_acs, scheduler, inbox, deliver, django_capture_on_commit_callbacks
):
    deliver()
    first = Invitation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        invitation_resend(actor=scheduler, participant=room_in_acs.participants.get())
    deliver()
    second = Invitation.objects.exclude(pk=first.pk).get()
    assert second.status == Status.SENT
    assert second.operation_id != first.operation_id
    assert [m["operationId"] for m in inbox(ADA[1])] == [first.operation_id, second.operation_id]
