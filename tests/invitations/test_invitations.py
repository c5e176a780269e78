"""Every change to someone's place in a room sends them exactly one e-mail, after commit."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from benchmarks.seed import Sizes, seed
from identities.services import NewPerson, identity_delete
from invitations.models import Invitation, Kind, Status
from invitations.services import invitations_set_enabled, scan_all, skip_history
from portal.logging import request_context
from portal.models import AuditEvent, Preference
from rooms import recurrence, services
from rooms.models import Participant, Role
from rooms.recurrence import Rule
from rooms.series import series_create, series_roll
from tests.invitations.conftest import attachment, the_event

pytestmark = pytest.mark.django_db

ADA = ("Ada Lovelace", "ada@example.com")
ALAN = ("Alan Turing", "alan@example.com")


def _room(actor, *people, title="Town hall"):
    start = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return services.room_create(
        actor=actor,
        title=title,
        notes="Bring the slides.",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[services.ParticipantEntry(NewPerson(*p[:2]), *p[2:]) for p in people],
    )


def _participant(room, email) -> Participant:
    return Participant.objects.select_related("identity").get(room=room, identity__email=email)


def test_it_invites_everyone_added_with_the_room(role_admin, inbox, deliver, emulator):
    room = _room(role_admin, ADA, (*ALAN, Role.PRESENTER))
    deliver()
    ada, alan = inbox(ADA[1]), inbox(ALAN[1])
    assert len(ada) == 1 and len(alan) == 1
    message = ada[0]
    assert message["subject"].startswith("Invitation: Town hall, ")
    assert "Your role: Attendee" in message["plainText"]
    assert "Your role: Presenter" in alan[0]["plainText"]
    assert message["attachments"][0]["contentType"] == "text/calendar; method=REQUEST"
    cal = attachment(emulator, message)
    assert str(cal["METHOD"]) == "REQUEST"
    event = the_event(cal)
    assert str(event["UID"]).startswith(f"room-{room.pk}@")
    join = [line for line in message["plainText"].splitlines() if line.startswith("Join: ")]
    assert join and join[0][len("Join: ") :] in str(event["DESCRIPTION"])
    assert join[0].startswith("Join: https://rooms.example.com/join/")


def test_nothing_is_sent_before_the_scan_and_the_worker_run(scheduler, inbox):
    _room(scheduler, ADA)
    assert inbox() == []
    assert Invitation.objects.count() == 0


def test_a_role_change_sends_one_updated_invitation_with_a_higher_sequence(
    role_admin, inbox, deliver, emulator
):
    room = _room(role_admin, ADA, ALAN)
    deliver()
    services.participant_role_change(
        actor=role_admin, participant=_participant(room, ADA[1]), role=Role.PRESENTER
    )
    deliver()
    ada = inbox(ADA[1])
    assert len(ada) == 2
    assert len(inbox(ALAN[1])) == 1  # Alan's place did not change
    first, second = (the_event(attachment(emulator, m)) for m in ada)
    assert first["UID"] == second["UID"]
    assert second["SEQUENCE"] > first["SEQUENCE"]
    assert "Your role: Presenter" in ada[1]["plainText"]
    assert second["ATTENDEE"].params["ROLE"] == "CHAIR"


def test_a_window_change_sends_everyone_one_update(scheduler, inbox, deliver, emulator):
    room = _room(scheduler, ADA, ALAN)
    deliver()
    new_start = room.valid_from + timedelta(hours=3)
    services.room_update(
        actor=scheduler,
        room=room,
        expected_version=room.version,
        valid_from=new_start,
        valid_until=new_start + timedelta(hours=2),
    )
    deliver()
    for person in (ADA, ALAN):
        got = inbox(person[1])
        assert len(got) == 2
        event = the_event(attachment(emulator, got[1]))
        assert event.start == new_start
        assert event.end == new_start + timedelta(hours=2)


def test_a_notes_change_sends_nothing(scheduler, inbox, deliver):
    room = _room(scheduler, ADA)
    deliver()
    services.room_update(actor=scheduler, room=room, expected_version=room.version, notes="New")
    deliver()
    assert len(inbox(ADA[1])) == 1


def test_a_removed_person_gets_one_cancellation(scheduler, inbox, deliver, emulator):
    room = _room(scheduler, ADA, ALAN)
    deliver()
    invited = the_event(attachment(emulator, inbox(ADA[1])[0]))
    services.participants_remove(
        actor=scheduler, room=room, participant_ids=[_participant(room, ADA[1]).pk]
    )
    deliver()
    ada = inbox(ADA[1])
    assert len(ada) == 2 and len(inbox(ALAN[1])) == 1
    assert ada[1]["subject"].startswith("Cancelled: Town hall")
    assert ada[1]["attachments"][0]["contentType"] == "text/calendar; method=CANCEL"
    cal = attachment(emulator, ada[1])
    assert str(cal["METHOD"]) == "CANCEL"
    cancelled = the_event(cal)
    assert cancelled["UID"] == invited["UID"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled["SEQUENCE"] > invited["SEQUENCE"]


def test_deleting_the_room_cancels_it_for_everyone_once(scheduler, inbox, deliver, emulator):
    room = _room(scheduler, ADA, ALAN)
    deliver()
    services.room_delete(actor=scheduler, room=room)
    deliver()
    deliver()  # the room's row goes once ACS confirms: nothing more is sent
    for person in (ADA, ALAN):
        got = inbox(person[1])
        assert [m["subject"].split(":")[0] for m in got] == ["Invitation", "Cancelled"]
        assert str(attachment(emulator, got[1])["METHOD"]) == "CANCEL"


def test_several_changes_committed_before_the_scan_make_one_email(role_admin, inbox, deliver):
    room = _room(role_admin, ADA)
    ada = _participant(room, ADA[1])
    services.participant_role_change(actor=role_admin, participant=ada, role=Role.PRESENTER)
    room.refresh_from_db()
    services.room_update(
        actor=role_admin, room=room, expected_version=room.version, title="Town hall, moved"
    )
    deliver()
    got = inbox(ADA[1])
    assert len(got) == 1
    assert got[0]["subject"].startswith("Invitation: Town hall, moved, ")
    assert "Your role: Presenter" in got[0]["plainText"]


def test_changes_seen_while_the_email_waits_are_folded_into_it(
    role_admin, inbox, deliver, django_capture_on_commit_callbacks
):
    room = _room(role_admin, ADA)
    scan_all()  # seen, not yet sent
    services.participant_role_change(
        actor=role_admin, participant=_participant(room, ADA[1]), role=Role.CONSUMER
    )
    deliver()
    got = inbox(ADA[1])
    assert len(got) == 1
    assert "Your role: Consumer" in got[0]["plainText"]
    assert Invitation.objects.filter(room_id=room.pk).count() == 1


def test_someone_added_and_removed_before_sending_gets_nothing(scheduler, inbox, deliver):
    room = _room(scheduler, ALAN)
    scan_all()
    services.participants_add(
        actor=scheduler, room=room, entries=[services.ParticipantEntry(NewPerson(*ADA))]
    )
    scan_all()
    services.participants_remove(
        actor=scheduler, room=room, participant_ids=[_participant(room, ADA[1]).pk]
    )
    deliver()
    assert inbox(ADA[1]) == []
    assert Invitation.objects.get(identity__email=ADA[1]).status == Status.WITHDRAWN


def test_people_without_an_address_are_skipped(scheduler, inbox, deliver):
    _room(scheduler, ("No Mail", ""), ADA)
    deliver()
    assert [m["to"][0]["address"] for m in inbox()] == [ADA[1]]


def test_a_room_with_invitations_off_sends_nothing(scheduler, inbox, deliver):
    room = _room(scheduler)
    invitations_set_enabled(actor=scheduler, room=room, enabled=False)
    services.participants_add(
        actor=scheduler, room=room, entries=[services.ParticipantEntry(NewPerson(*ADA))]
    )
    services.room_delete(actor=scheduler, room=room)
    deliver()
    assert inbox() == []
    assert not Invitation.objects.exists()


def test_a_refused_address_is_final_and_shown(client, scheduler, inbox, deliver, emulator):
    emulator.email.mark_bad_address(ADA[1])
    room = _room(scheduler, ADA)
    deliver()
    invitation = Invitation.objects.get(room_id=room.pk)
    assert invitation.status == Status.FAILED
    assert invitation.acs_status == "Failed"
    assert invitation.acs_error
    deliver()
    assert len(inbox(ADA[1])) == 1  # ACS got it once and refused it; never asked again
    assert invitation.sync.state == "synced"
    client.force_login(scheduler)
    page = client.get(reverse("rooms:detail", args=[room.pk])).text
    assert "ACS refused 1 e-mail about this room" in page


def test_each_send_is_in_the_rooms_history_with_acs_answer(scheduler, inbox, deliver):
    room = _room(scheduler, ADA)
    deliver()
    invitation = Invitation.objects.get(room_id=room.pk)
    event = AuditEvent.objects.get(room_id=room.pk, action="acs.invitation.sent")
    assert event.acs_outcome["operation_id"] == invitation.operation_id
    assert event.acs_outcome["status"] == "Succeeded"
    assert event.changes["to"]["after"] == ADA[1]
    assert invitation.kind == Kind.REQUEST and invitation.sent_at is not None


def test_history_skipped_by_a_bulk_loader_sends_nothing(scheduler, inbox, deliver):
    _room(scheduler, ADA)
    skip_history()
    deliver()
    assert inbox() == []


def test_the_html_body_escapes_what_people_typed(scheduler, inbox, deliver):
    _room(scheduler, ADA, title="Q&A <b>live</b>")
    deliver()
    (message,) = inbox(ADA[1])
    assert "Q&amp;A &lt;b&gt;live&lt;/b&gt;" in message["html"]
    assert "<b>live</b>" not in message["html"]
    assert '"Q&A <b>live</b>"' in message["plainText"]


def test_the_window_is_written_in_the_owners_zone_and_in_utc(scheduler, inbox, deliver):
    Preference.objects.create(user=scheduler, time_zone="America/New_York")
    start = datetime(2026, 12, 15, 14, 0, tzinfo=UTC)
    services.room_create(
        actor=scheduler,
        title="Across the ocean",
        valid_from=start,
        valid_until=start + timedelta(hours=1),
        participants=[services.ParticipantEntry(NewPerson(*ADA))],
    )
    deliver()
    (message,) = inbox(ADA[1])
    assert "When: Tue 15 Dec 2026, 09:00 – 10:00 EST" in message["plainText"]
    assert "(Tue 15 Dec 2026, 14:00 – 15:00 UTC)" in message["plainText"]
    assert message["subject"] == "Invitation: Across the ocean, Tue 15 Dec 2026"


def test_a_deleted_person_gets_a_cancellation_for_each_room(role_admin, inbox, deliver):
    first, second = _room(role_admin, ADA), _room(role_admin, title="Retro")
    services.participants_add(
        actor=role_admin,
        room=second,
        entries=[services.ParticipantEntry(_participant(first, ADA[1]).identity)],
    )
    deliver()
    identity_delete(actor=role_admin, identity=_participant(first, ADA[1]).identity)
    deliver()
    subjects = sorted(m["subject"].split(",")[0] for m in inbox(ADA[1]))
    assert subjects == [
        "Cancelled: Retro",
        "Cancelled: Town hall",
        "Invitation: Retro",
        "Invitation: Town hall",
    ]


def test_the_benchmark_seeds_history_is_not_emailed(deliver, inbox):
    seed(Sizes(rooms=10, per_room=3, identities=12, big_room=4, events=120))
    assert AuditEvent.objects.filter(action="portal.participant.role_changed").exists()
    deliver()
    assert not Invitation.objects.exists()
    assert inbox() == []


def test_each_occurrence_of_a_series_is_its_own_calendar_entry(scheduler, inbox, deliver, emulator):
    first = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    series = series_create(
        actor=scheduler,
        title="Weekly sync",
        time_zone="UTC",
        first_start=first.replace(tzinfo=None),
        duration=timedelta(minutes=30),
        rule=Rule(recurrence.WEEKLY, count=2),
        participants=[services.ParticipantEntry(NewPerson(*ADA))],
    )
    series_roll(series)
    deliver()
    events = [the_event(attachment(emulator, m)) for m in inbox(ADA[1])]
    assert len(events) == 2
    assert len({str(e["UID"]) for e in events}) == 2
    assert {str(e["RELATED-TO"]) for e in events} == {f"series-{series.pk}@rooms.example.com"}
    assert sorted(e.start for e in events) == [first, first + timedelta(days=7)]


def test_the_send_carries_the_request_id_of_the_change_that_caused_it(role_admin, inbox, deliver):
    """An e-mail is sent by the worker, later: its task, its audit event and its ACS call still
    carry the id of the request that added the person (issue 15: one id from request to ACS)."""
    with request_context("add-ada-7"):
        _room(role_admin, ADA)
    deliver()
    assert len(inbox(ADA[1])) == 1
    sent = AuditEvent.objects.get(action="acs.invitation.sent")
    assert sent.request_id == "add-ada-7"


def test_a_rooms_push_runs_before_invitations_queued_earlier(
    scheduler, inbox, deliver, django_capture_on_commit_callbacks
):
    """An e-mail's push waits seconds for ACS Email: a room changed after a batch of
    invitations was queued is pushed first, not behind them."""
    from django_tasks_db.models import DBTaskResult

    from outbox import engine

    room = _room(scheduler, ADA, ALAN)
    deliver()  # the room's own push and the first invitations
    services.participants_remove(
        actor=scheduler, room=room, participant_ids=[_participant(room, ADA[1]).pk]
    )
    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        scan_all()  # Ada's cancellation: an invitation push, queued first
    engine.enqueue("room", room.pk)  # then a room push
    queued = [r.args_kwargs["args"][0] for r in DBTaskResult.objects.ready()]
    assert queued[0] == "room" and "invitation" in queued
