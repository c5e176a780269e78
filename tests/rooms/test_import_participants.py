"""import_participants adds a whole CSV file to a room in one push, or nothing at all."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import acs_gateway as acs
from identities.models import Identity
from rooms import csv_import
from rooms.models import Participant, Role, Room
from tests.conftest import run_tasks
from tests.rooms.factories import GOOD_CSV, town_hall

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(emulator, role_admin, django_capture_on_commit_callbacks) -> Room:
    with django_capture_on_commit_callbacks(execute=True):
        room = town_hall(role_admin, [("Olga Owner", "olga@example.com")])
    run_tasks()
    room.refresh_from_db()
    return room


def _import(tmp_path, room, content: str | bytes, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "people.csv"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    if "--actor" not in args:
        args = (*args, "--actor", room.owner.username)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_participants", str(room.pk), str(path), *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def _roster(room: Room) -> dict[str, str]:
    return dict(room.participants.values_list("identity__email", "role"))


def _nothing_added(room: Room) -> None:
    assert _roster(room) == {"olga@example.com": "Attendee"}
    assert Identity.objects.count() == 1


def test_a_good_file_adds_everyone_in_one_participants_patch(
    tmp_path, room, role_admin, emulator, django_capture_on_commit_callbacks
):
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    with django_capture_on_commit_callbacks(execute=True):
        code, out, err = _import(tmp_path, room, GOOD_CSV, "--actor", role_admin.username)
    run_tasks()
    assert (code, err) == (0, "")
    assert out == "Added 3 participants to Town hall.\n"
    assert _roster(room) == {
        "olga@example.com": "Attendee",
        "ada@example.com": "Presenter",
        "alan@example.com": "Attendee",
        "grace@example.com": "Consumer",
    }
    assert emulator.requests()["counts"]["Participants_Update"] - before == 1
    held = acs.get_gateway().list_participants(room.acs_id)
    assert sorted(held.values()) == ["Attendee", "Attendee", "Consumer", "Presenter"]


def test_the_room_can_be_named_by_its_acs_id(tmp_path, room, role_admin):
    path = tmp_path / "people.csv"
    path.write_text(GOOD_CSV)
    out = io.StringIO()
    call_command(
        "import_participants", room.acs_id, str(path), "--actor", role_admin.username, stdout=out
    )
    assert out.getvalue() == "Added 3 participants to Town hall.\n"


def test_one_bad_row_imports_nothing_and_names_the_row(tmp_path, room, emulator):
    before = emulator.requests()["counts"]
    content = GOOD_CSV + "Bob,bob@,Attendee\n"
    code, out, err = _import(tmp_path, room, content)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "Line 5: 'bob@' is not a valid e-mail address.",
        "Nothing was added to Town hall: fix the file and run this again.",
    ]
    _nothing_added(room)
    assert emulator.requests()["counts"] == before


def test_every_bad_row_is_reported_with_its_line_and_reason(tmp_path, room):
    content = (
        "Name,Email,Role\n"
        ",nameless@example.com,\n"
        "No Mail,,\n"
        "Speaker,speaker@example.com,Speaker\n"
        "Ada,ada@example.com,\n"
        "Ada Again,ADA@example.com,\n"
    )
    code, _, err = _import(tmp_path, room, content)
    assert code == 1
    assert err.splitlines()[:-1] == [
        "Line 2: The name is missing.",
        "Line 3: The e-mail address is missing.",
        "Line 4: 'Speaker' is not a role; choose one of Presenter, Attendee, Consumer, "
        "Collaborator.",
        "Line 6: ada@example.com is on line 5 already.",
    ]
    _nothing_added(room)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xef\xbb\xbf" + GOOD_CSV.encode(), id="utf-8 with BOM"),
        pytest.param(GOOD_CSV.replace(",", ";").encode(), id="semicolons"),
        pytest.param(
            b"\xef\xbb\xbf" + GOOD_CSV.replace(",", ";").encode(), id="BOM and semicolons"
        ),
        pytest.param(GOOD_CSV.replace("\n", "\r\n").encode(), id="Windows line ends"),
    ],
)
def test_it_reads_the_files_spreadsheets_write(tmp_path, room, content):
    code, out, _ = _import(tmp_path, room, content)
    assert (code, out) == (0, "Added 3 participants to Town hall.\n")
    assert _roster(room)["grace@example.com"] == "Consumer"


def test_a_file_without_a_role_column_adds_attendees(tmp_path, room):
    code, _, _ = _import(tmp_path, room, "EMAIL,NAME\nada@example.com,Ada Lovelace\n")
    assert code == 0
    assert _roster(room)["ada@example.com"] == "Attendee"
    assert Identity.objects.get(email="ada@example.com").display_name == "Ada Lovelace"


def test_someone_the_portal_knows_is_added_as_that_identity(tmp_path, room, role_admin):
    known = Identity.objects.create(display_name="Ada L.", email="ada@example.com")
    plan = csv_import.parse_participants_csv(GOOD_CSV, room=room, actor=role_admin)
    assert plan.ok
    assert [row.identity for row in plan.rows] == [known, None, None]
    csv_import.apply_plan(actor=role_admin, room=room, plan=plan)
    assert Participant.objects.get(room=room, identity=known).role == Role.PRESENTER


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "The file is empty.", id="empty"),
        pytest.param(b"\n  \n", "The file is empty.", id="blank lines"),
        pytest.param(
            b"name,email,role\n", "The file has a header row but no one to add.", id="header only"
        ),
        pytest.param(
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe",
            csv_import.NOT_TEXT,
            id="a spreadsheet",
        ),
        pytest.param(
            b"Ada Lovelace,ada@example.com\n",
            "Line 1: The header row has unknown column(s) 'ada lovelace', 'ada@example.com'; "
            "use name, email and role.",
            id="no header row",
        ),
        pytest.param(
            b"name,role\nAda,Presenter\n",
            "Line 1: The header row must name the columns name and email (role is optional); "
            "it has: 'name', 'role'.",
            id="no email column",
        ),
        pytest.param(
            b'name,email\n"Ada,ada@example.com\n',
            "Line 2: The file is not a CSV file: unexpected end of data.",
            id="unclosed quote",
        ),
    ],
)
def test_a_file_that_is_not_a_list_of_people_is_refused(tmp_path, room, content, message):
    code, _, err = _import(tmp_path, room, content)
    assert code == 1
    assert err.splitlines()[0] == message
    _nothing_added(room)


def test_more_than_a_thousand_rows_are_refused(tmp_path, room):
    rows = "".join(f"P{n},p{n}@example.com,\n" for n in range(1001))
    code, _, err = _import(tmp_path, room, "name,email\n" + rows)
    assert code == 1
    assert err.splitlines()[0] == (
        "Line 1002: The file has more than 1,000 people (1,001 rows); split it into smaller files."
    )
    _nothing_added(room)


def test_a_row_with_more_values_than_columns_is_refused(tmp_path, room):
    code, _, err = _import(tmp_path, room, "name,email\nAda,ada@example.com,Presenter\n")
    assert code == 1
    assert err.splitlines()[0] == "Line 2: The row has 3 values, but the header names 2 columns."


def test_an_actor_without_permission_is_refused(tmp_path, room, auditor):
    with pytest.raises(CommandError, match="You may not add participants"):
        _import(tmp_path, room, GOOD_CSV, "--actor", auditor.username)
    _nothing_added(room)


def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path, room, emulator):
    Identity.objects.create(display_name="Ada L.", email="ada@example.com")
    before = emulator.requests()["counts"]
    code, out, err = _import(tmp_path, room, GOOD_CSV, "--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Line 2: add Ada Lovelace <ada@example.com> as Presenter (known identity)",
        "Line 3: add Alan Turing <alan@example.com> as Attendee (new identity)",
        "Line 4: add Grace Hopper <grace@example.com> as Consumer (new identity)",
        "Dry run: would add 3 participants to Town hall; nothing was written.",
    ]
    assert _roster(room) == {"olga@example.com": "Attendee"}
    assert emulator.requests()["counts"] == before


@pytest.mark.parametrize("room_ref", ["999", "²", "9" * 40, "0"])
def test_an_unknown_room_is_refused(tmp_path, emulator, superuser, room_ref):
    path = tmp_path / "people.csv"
    path.write_text(GOOD_CSV)
    with pytest.raises(CommandError, match=f"There is no room '{room_ref}'"):
        call_command("import_participants", room_ref, str(path), stdout=io.StringIO())


def test_a_scheduler_cannot_give_roles_by_file_and_nothing_is_added(tmp_path, room, scheduler):
    code, _, err = _import(tmp_path, room, GOOD_CSV, "--actor", scheduler.username)
    assert code == 1
    assert "You may not give the role Presenter" in err
    assert "rooms.change_participant" in err
    _nothing_added(room)


def test_a_scheduler_may_import_attendees(tmp_path, room, scheduler):
    code, _, err = _import(
        tmp_path,
        room,
        "name,email,role\nAda,ada@example.com,\nAlan,alan@example.com,attendee\n",
        "--actor",
        scheduler.username,
    )
    assert (code, err) == (0, "")
    assert _roster(room)["ada@example.com"] == _roster(room)["alan@example.com"] == "Attendee"
