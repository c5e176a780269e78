"""A CSV file re-imported into a room: it adds people, changes roles and leaves the rest as
they are, with one participants PATCH per apply, or does nothing at all."""

import html as html_lib
import io
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

import acs_gateway as acs
from identities.models import Identity
from identities.services import NewPerson
from outbox.models import Entry
from portal.models import AuditEvent
from rooms import csv_import, services
from rooms.models import Participant, Role, Room
from rooms.sync import KIND
from tests.conftest import run_tasks
from tests.rooms.factories import town_hall

pytestmark = pytest.mark.django_db

# The room's roster before each test: two Attendees and a Presenter.
PEOPLE = [
    ("Olga Owner", "olga@example.com"),
    ("Pat Presenter", "pat@example.com", Role.PRESENTER),
    ("Quinn Quiet", "quinn@example.com"),
]
# Olga becomes a Presenter, Pat a Consumer, Quinn stays, Ada is new.
ROSTER = (
    "name,email,role\n"
    "Olga Owner,olga@example.com,Presenter\n"
    "Pat Presenter,pat@example.com,Consumer\n"
    "Quinn Quiet,quinn@example.com,Attendee\n"
    "Ada Lovelace,ada@example.com,\n"
)


@pytest.fixture
def room(role_admin, emulator, django_capture_on_commit_callbacks) -> Room:
    """A room with three people, pushed to the emulator."""
    with django_capture_on_commit_callbacks(execute=True):
        room = town_hall(role_admin, PEOPLE)
    run_tasks()
    room.refresh_from_db()
    assert room.acs_id
    return room


def _roster(room: Room) -> dict[str, str]:
    return dict(room.participants.values_list("identity__email", "role"))


BEFORE = {
    "olga@example.com": Role.ATTENDEE,
    "pat@example.com": Role.PRESENTER,
    "quinn@example.com": Role.ATTENDEE,
}


def _actions(plan) -> list[tuple[int, str]]:
    return [(row.line, row.action) for row in plan.entries]


def _written():
    return (
        Participant.objects.count(),
        Identity.objects.count(),
        AuditEvent.objects.count(),
        sorted(Participant.objects.values_list("pk", "role")),
    )


def _patches(emulator) -> int:
    return emulator.requests()["counts"].get("Participants_Update", 0)


def _marks(room: Room) -> int:
    """How often the room was marked for a push (its outbox generation)."""
    return Entry.objects.get(kind=KIND, object_id=room.pk).generation


# ------------------------------------------------------------------------------ the plan


def test_a_role_admins_file_adds_changes_and_leaves_the_rest(room, role_admin):
    plan = csv_import.parse_participants_csv(ROSTER, room=room, actor=role_admin)
    assert plan.ok and plan.errors == []
    assert _actions(plan) == [(2, "change"), (3, "change"), (4, "unchanged"), (5, "add")]
    olga, pat, quinn, ada = plan.entries
    assert (olga.old_role, olga.role) == (Role.ATTENDEE, Role.PRESENTER)
    assert (pat.old_role, pat.role) == (Role.PRESENTER, Role.CONSUMER)
    assert (quinn.old_role, quinn.role) == (Role.ATTENDEE, Role.ATTENDEE)
    assert (ada.identity, ada.role) == (None, Role.ATTENDEE)
    assert plan.counts == {"add": 1, "change": 2, "unchanged": 1, "error": 0}
    assert plan.not_in_file == 0
    assert _roster(room) == BEFORE


def test_a_row_identical_to_the_room_is_unchanged_not_an_error(room, scheduler):
    content = "name,email,role\nPat Presenter,pat@example.com,presenter\nOlga,OLGA@example.com,\n"
    plan = csv_import.parse_participants_csv(content, room=room, actor=scheduler)
    assert plan.errors == []
    assert _actions(plan) == [(2, "unchanged"), (3, "unchanged")]
    assert plan.ok and not plan.has_changes
    # Quinn is not in the file: they stay, and the preview says so.
    assert plan.not_in_file == 1


def test_a_scheduler_gets_an_error_for_each_row_that_would_change_a_role(room, scheduler):
    plan = csv_import.parse_participants_csv(ROSTER, room=room, actor=scheduler)
    assert not plan.ok
    assert _actions(plan) == [(2, "error"), (3, "error"), (4, "unchanged"), (5, "add")]
    assert [str(error) for error in plan.errors] == [
        "Line 2: You may not change the role of Olga Owner <olga@example.com> from Attendee to "
        "Presenter: it needs the permission “rooms.change_participant”. Keep their role "
        "(Attendee) in the file or ask a role admin to import it.",
        "Line 3: You may not change the role of Pat Presenter <pat@example.com> from Presenter "
        "to Consumer: it needs the permission “rooms.change_participant”. Keep their role "
        "(Presenter) in the file or ask a role admin to import it.",
    ]
    assert plan.entries[0].reasons == (plan.errors[0].message,)


def test_a_scheduler_gets_todays_error_for_a_new_person_with_a_role(room, scheduler):
    content = "name,email,role\nAda,ada@example.com,Collaborator\nPat,pat@example.com,Presenter\n"
    plan = csv_import.parse_participants_csv(content, room=room, actor=scheduler)
    assert _actions(plan) == [(2, "error"), (3, "unchanged")]
    assert plan.errors == [
        csv_import.RowError(
            2,
            csv_import.ROLE_NOT_YOURS.format(
                role="Collaborator", permission="rooms.change_participant"
            ),
        )
    ]


def test_a_file_without_a_role_column_keeps_the_roles_of_those_in_the_room(room, scheduler):
    content = "email,name\npat@example.com,Pat\nada@example.com,Ada\n"
    plan = csv_import.parse_participants_csv(content, room=room, actor=scheduler)
    assert plan.ok
    assert _actions(plan) == [(2, "unchanged"), (3, "add")]
    assert [row.role for row in plan.entries] == [Role.PRESENTER, Role.ATTENDEE]


def test_an_empty_role_cell_means_attendee_for_someone_in_the_room_too(room, role_admin):
    plan = csv_import.parse_participants_csv(
        "name,email,role\nPat,pat@example.com,\n", room=room, actor=role_admin
    )
    assert _actions(plan) == [(2, "change")]
    assert (plan.entries[0].old_role, plan.entries[0].role) == (Role.PRESENTER, Role.ATTENDEE)


def test_one_person_twice_with_different_roles_is_refused_naming_both(room, role_admin):
    content = (
        "name,email,role\n"
        "Ada,ada@example.com,Presenter\n"
        "Pat,pat@example.com,\n"
        "Ada L.,ADA@example.com,Consumer\n"
        "Pat,pat@example.com,\n"
    )
    plan = csv_import.parse_participants_csv(content, room=room, actor=role_admin)
    assert not plan.ok
    assert [str(error) for error in plan.errors] == [
        "Line 4: ada@example.com is on line 2 already as Presenter, here as Consumer: list each "
        "person once, with the role they should have.",
        "Line 5: pat@example.com is on line 3 already.",
    ]
    assert _actions(plan) == [(2, "add"), (3, "change"), (4, "error"), (5, "error")]


def test_an_identity_whose_email_differs_in_case_is_recognised(role_admin, emulator):
    known = Identity.objects.create(display_name="Mixed Case", email="Mixed.Case@Example.com")
    room = town_hall(role_admin)
    services.participants_add(
        actor=role_admin, room=room, entries=[services.ParticipantEntry(known)]
    )
    plan = csv_import.parse_participants_csv(
        "name,email\nMixed,mixed.case@example.com\n", room=room, actor=role_admin
    )
    assert _actions(plan) == [(2, "unchanged")]
    assert plan.entries[0].identity == known


def test_the_fingerprint_follows_what_applying_would_do(room, role_admin):
    first = csv_import.parse_participants_csv(ROSTER, room=room, actor=role_admin)
    again = csv_import.parse_participants_csv(ROSTER, room=room, actor=role_admin)
    assert first.fingerprint == again.fingerprint
    services.participants_add(
        actor=role_admin,
        room=room,
        entries=[services.ParticipantEntry(NewPerson("Ada Lovelace", "ada@example.com"))],
    )
    after = csv_import.parse_participants_csv(ROSTER, room=room, actor=role_admin)
    assert after.entries[3].action == "unchanged"
    assert after.fingerprint != first.fingerprint
    assert csv_import.preview_is_current(first, first.fingerprint)
    assert not csv_import.preview_is_current(after, first.fingerprint)


# ------------------------------------------------------------------------------ applying


def test_applying_adds_and_role_changes_makes_one_participants_patch(
    room, role_admin, emulator, django_capture_on_commit_callbacks
):
    plan = csv_import.parse_participants_csv(ROSTER, room=room, actor=role_admin)
    before, marks = _patches(emulator), _marks(room)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = csv_import.apply_plan(actor=role_admin, room=room, plan=plan)
    # One mark of the room, one push task: the adds and the role changes travel together.
    assert (_marks(room) - marks, len(callbacks)) == (1, 1)
    run_tasks()
    assert [p.identity.email for p in result.added] == ["ada@example.com"]
    assert sorted(p.identity.email for p in result.changed) == [
        "olga@example.com",
        "pat@example.com",
    ]
    expected = {
        "olga@example.com": Role.PRESENTER,
        "pat@example.com": Role.CONSUMER,
        "quinn@example.com": Role.ATTENDEE,
        "ada@example.com": Role.ATTENDEE,
    }
    assert _roster(room) == expected
    assert _patches(emulator) - before == 1
    # ACS holds the new roles and the new person.
    held = acs.get_gateway().list_participants(room.acs_id)
    by_raw_id = dict(room.participants.values_list("identity__raw_id", "identity__email"))
    assert {by_raw_id[raw_id]: role for raw_id, role in held.items()} == expected


def test_applying_records_each_add_and_role_change_in_the_history(room, role_admin):
    plan = csv_import.parse_participants_csv(ROSTER, room=room, actor=role_admin)
    first = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    csv_import.apply_plan(actor=role_admin, room=room, plan=plan)
    events = list(AuditEvent.objects.filter(pk__gt=first).order_by("pk"))
    actions = [event.action for event in events]
    assert actions == [
        "portal.participant.role_changed",
        "portal.participant.role_changed",
        "portal.identity.created",
        "portal.participant.added",
    ]
    assert sorted(
        (e.changes["role"]["before"], e.changes["role"]["after"]) for e in events[:2]
    ) == [(Role.ATTENDEE, Role.PRESENTER), (Role.PRESENTER, Role.CONSUMER)]
    assert all(event.room_id == room.pk for event in events if "participant" in event.action)


def test_a_file_with_an_error_row_applies_nothing(room, role_admin, emulator):
    plan = csv_import.parse_participants_csv(
        ROSTER + "Bob,bob@,Attendee\n", room=room, actor=role_admin
    )
    before, patches = _written(), _patches(emulator)
    with pytest.raises(ValidationError) as error:
        csv_import.apply_plan(actor=role_admin, room=room, plan=plan)
    assert error.value.messages == ["Line 6: 'bob@' is not a valid e-mail address."]
    run_tasks()
    assert _written() == before
    assert _patches(emulator) == patches


def test_a_file_that_changes_nothing_writes_nothing(room, role_admin, emulator):
    content = "name,email,role\nPat,pat@example.com,Presenter\n"
    plan = csv_import.parse_participants_csv(content, room=room, actor=role_admin)
    before, patches = _written(), _patches(emulator)
    result = csv_import.apply_plan(actor=role_admin, room=room, plan=plan)
    run_tasks()
    assert (result.added, result.changed) == ([], [])
    assert csv_import.applied_message(result, room) == csv_import.NOTHING_TO_APPLY
    assert _written() == before
    assert _patches(emulator) == patches


# ------------------------------------------------------------------------------ the service


def test_the_roster_service_is_all_or_nothing(room, role_admin):
    """A person added meanwhile makes the add fail: the role change beside it is undone."""
    olga = room.participants.get(identity__email="olga@example.com")
    pat = room.participants.get(identity__email="pat@example.com")
    before = _written()
    with pytest.raises(ValidationError, match="is already in the room"):
        services.participants_apply_roster(
            actor=role_admin,
            room=room,
            add=[services.ParticipantEntry(olga.identity)],
            roles={pat.pk: Role.CONSUMER},
        )
    assert _written() == before


def test_the_roster_service_lets_only_role_admins_change_roles(room, scheduler):
    pat = room.participants.get(identity__email="pat@example.com")
    before = _written()
    with pytest.raises(PermissionDenied, match="rooms.change_participant"):
        services.participants_apply_roster(
            actor=scheduler,
            room=room,
            add=[services.ParticipantEntry(NewPerson("Ada", "ada@example.com"))],
            roles={pat.pk: Role.ATTENDEE},
        )
    assert _written() == before


def test_the_roster_service_refuses_someone_no_longer_in_the_room(room, role_admin):
    pat = room.participants.get(identity__email="pat@example.com")
    services.participants_remove(actor=role_admin, room=room, participant_ids=[pat.pk])
    before = _written()
    with pytest.raises(ValidationError, match=f"Participant {pat.pk} is not in this room"):
        services.participants_apply_roster(
            actor=role_admin, room=room, roles={pat.pk: Role.CONSUMER}
        )
    assert _written() == before


def test_the_roster_service_changes_roles_alone_in_one_patch(
    room, role_admin, emulator, django_capture_on_commit_callbacks
):
    olga = room.participants.get(identity__email="olga@example.com")
    quinn = room.participants.get(identity__email="quinn@example.com")
    before, marks = _patches(emulator), _marks(room)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.participants_apply_roster(
            actor=role_admin,
            room=room,
            roles={olga.pk: Role.COLLABORATOR, quinn.pk: Role.CONSUMER},
        )
    run_tasks()
    assert {p.pk for p in result.changed} == {olga.pk, quinn.pk}
    assert _marks(room) - marks == 1
    assert _patches(emulator) - before == 1
    held = acs.get_gateway().list_participants(room.acs_id)
    assert held[olga.identity.raw_id] == Role.COLLABORATOR
    assert held[quinn.identity.raw_id] == Role.CONSUMER


# ------------------------------------------------------------------------------ the page


def _url(room):
    return reverse("rooms:participants_import", args=[room.pk])


def _upload(client, room, content: str | bytes):
    if isinstance(content, str):
        content = content.encode("utf-8")
    upload = SimpleUploadedFile("people.csv", content, content_type="text/csv")
    return client.post(_url(room), {"file": upload, "preview": "1"})


def _apply_fields(html: str) -> dict[str, str]:
    """The preview's Apply form, as the browser would post it."""
    csv_text = re.search(r'<textarea name="csv"[^>]*>\n?(.*?)</textarea>', html, re.S)
    plan = re.search(r'<input type="hidden" name="plan" value="([0-9a-f]+)">', html)
    assert csv_text and plan, "the preview carries the file and its plan in hidden fields"
    return {"csv": html_lib.unescape(csv_text.group(1)), "plan": plan.group(1), "apply": "1"}


def _text(response) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_the_preview_shows_each_row_as_add_change_unchanged_or_error_with_counts(
    client, room, role_admin
):
    client.force_login(role_admin)
    before = _written()
    response = _upload(client, room, ROSTER + "Bob,bob@,\n")
    text = _text(response)
    assert response.status_code == 200
    assert _written() == before
    assert "To add 1 Role to change 2 Unchanged 1 With an error 1" in text
    assert "2 Olga Owner olga@example.com Presenter Change Attendee → Presenter" in text
    assert "3 Pat Presenter pat@example.com Consumer Change Presenter → Consumer" in text
    assert "4 Quinn Quiet quinn@example.com Attendee Unchanged in the room as Attendee" in text
    assert "5 Ada Lovelace ada@example.com Attendee Add new identity" in text
    assert "6 Bob bob@ Attendee Error 'bob@' is not a valid e-mail address." in text
    assert "This file cannot be imported" in text
    assert 'name="apply"' not in response.content.decode()


def test_applying_the_preview_does_what_it_showed_in_one_patch(
    client, room, role_admin, emulator, django_capture_on_commit_callbacks
):
    client.force_login(role_admin)
    preview = _upload(client, room, ROSTER)
    assert "Apply: add 1 person and change 2 roles" in _text(preview)
    before = _patches(emulator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(room), _apply_fields(preview.content.decode()))
    assert response.status_code == 302
    run_tasks()
    assert _roster(room) == {
        "olga@example.com": Role.PRESENTER,
        "pat@example.com": Role.CONSUMER,
        "quinn@example.com": Role.ATTENDEE,
        "ada@example.com": Role.ATTENDEE,
    }
    assert _patches(emulator) - before == 1
    assert (
        "Added 1 person to Town hall and changed the role of 2 people, as the file says."
        in _text(client.get(response.url))
    )


def test_an_apply_after_the_room_changed_shows_the_new_plan_and_changes_nothing(
    client, room, role_admin
):
    client.force_login(role_admin)
    fields = _apply_fields(_upload(client, room, ROSTER).content.decode())
    # Someone gives Olga the file's role between the preview and Apply.
    olga = room.participants.get(identity__email="olga@example.com")
    services.participant_role_change(actor=role_admin, participant=olga, role=Role.PRESENTER)
    before = _written()
    response = client.post(_url(room), fields)
    text = _text(response)
    assert response.status_code == 200
    assert _written() == before
    assert csv_import.PREVIEW_OUTDATED in text
    assert "2 Olga Owner olga@example.com Presenter Unchanged" in text
    # The new preview can be applied as it now stands.
    assert _apply_fields(response.content.decode())["plan"] != fields["plan"]


def test_a_file_that_changes_nothing_offers_no_apply(client, room, scheduler):
    client.force_login(scheduler)
    response = _upload(client, room, "name,email,role\nPat,pat@example.com,Presenter\n")
    text = _text(response)
    assert "Nothing to change" in text
    assert "Everyone in the file is in the room with that role already" in text
    assert "the 2 people in the room whom the file does not list stay." in text
    response = _upload(
        client, room, "name,email,role\nPat,pat@example.com,Presenter\nOlga,olga@example.com,\n"
    )
    assert "the 1 person in the room whom the file does not list stays." in _text(response)
    assert 'name="apply"' not in response.content.decode()


def test_a_scheduler_sees_why_a_role_change_row_is_refused(client, room, scheduler):
    client.force_login(scheduler)
    response = _upload(client, room, ROSTER)
    text = _text(response)
    assert "Line 2: You may not change the role of Olga Owner" in text
    assert "3 Pat Presenter pat@example.com Consumer Error You may not change the role" in text
    assert 'name="apply"' not in response.content.decode()
    # Posting the file's Apply by hand changes nothing either.
    before = _written()
    response = client.post(_url(room), {"csv": ROSTER, "apply": "1"})
    assert response.status_code == 200
    assert "Nothing was imported" in _text(response)
    assert _written() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "name,email\nBob,bob@\n", "Line 2: 'bob@' is not a valid e-mail address.", id="email"
        ),
        pytest.param(
            "name,email,role\nBob,bob@example.com,Boss\n",
            "Line 2: 'Boss' is not a role; choose one of Presenter, Attendee, Consumer, "
            "Collaborator.",
            id="role",
        ),
        pytest.param(
            "name,email,role\nAda,ada@example.com,Presenter\nAda,ada@example.com,Attendee\n",
            "Line 3: ada@example.com is on line 2 already as Presenter, here as Attendee",
            id="duplicate with two roles",
        ),
        pytest.param(
            "name,email\n" + "".join(f"P{n},p{n}@example.com\n" for n in range(1001)),
            "Line 1002: The file has more than 1,000 people (1,001 rows)",
            id="too many rows",
        ),
        pytest.param(
            "name,email\nJosé,jose@example.com\n".encode("utf-16"),
            "it is not UTF-8 text",
            id="encoding",
        ),
        pytest.param(b"name,email\nNul\x00,nul@example.com\n", "it is not UTF-8 text", id="NUL"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    client, room, role_admin, content, message
):
    client.force_login(role_admin)
    before = _written()
    preview = _upload(client, room, content)
    assert preview.status_code == 200
    assert message in _text(preview)
    assert 'name="apply"' not in preview.content.decode()
    if isinstance(content, str):
        applied = client.post(_url(room), {"csv": content, "apply": "1", "plan": "0" * 32})
        assert applied.status_code == 200
        assert message in _text(applied)
    assert _written() == before


@pytest.mark.parametrize("plan", ["", "nonsense", "<script>"])
def test_a_forged_plan_field_applies_nothing_and_shows_the_preview(client, room, role_admin, plan):
    client.force_login(role_admin)
    before = _written()
    response = client.post(_url(room), {"csv": ROSTER, "apply": "1", "plan": plan})
    assert response.status_code == 200
    assert csv_import.PREVIEW_OUTDATED in _text(response)
    assert _written() == before


# ------------------------------------------------------------------------------ the command


def test_the_command_reports_adds_and_role_changes(tmp_path, room, role_admin):
    path = tmp_path / "people.csv"
    path.write_text(ROSTER)
    out = io.StringIO()
    call_command(
        "import_participants", str(room.pk), str(path), "--actor", role_admin.username, stdout=out
    )
    assert out.getvalue() == (
        "Added 1 participant to Town hall and changed the role of 2 participants.\n"
    )
    assert _roster(room)["pat@example.com"] == Role.CONSUMER
