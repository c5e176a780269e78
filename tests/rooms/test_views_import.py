"""Importing people from a CSV file: upload, a preview that writes nothing, then apply."""

import html as html_lib
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from identities.models import Identity
from identities.services import NewPerson
from portal.models import AuditEvent
from rooms import services
from rooms.models import Participant
from tests.conftest import run_tasks
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import GOOD_CSV, town_hall

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(scheduler):
    return town_hall(scheduler, [("Olga Owner", "olga@example.com")])


def _url(room):
    return reverse("rooms:participants_import", args=[room.pk])


def _upload(client, room, content: str | bytes, name="people.csv"):
    if isinstance(content, str):
        content = content.encode("utf-8")
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(_url(room), {"file": upload, "preview": "1"})


def _counts():
    return Participant.objects.count(), Identity.objects.count(), AuditEvent.objects.count()


def _hidden_csv(html: str) -> str:
    match = re.search(r'<textarea name="csv"[^>]*>\n?(.*?)</textarea>', html, re.S)
    assert match, "the preview carries the file in a hidden field"
    return html_lib.unescape(match.group(1))


def _apply(html: str) -> dict[str, str]:
    """The preview's Apply form as a browser posts it: the file and the plan it showed."""
    match = re.search(r'<input type="hidden" name="plan" value="([0-9a-f]+)">', html)
    assert match, "the preview carries its plan in a hidden field"
    return {"csv": _hidden_csv(html), "plan": match.group(1), "apply": "1"}


def test_the_upload_page_shows_the_expected_columns_with_an_example(client, scheduler, room):
    client.force_login(scheduler)
    response = client.get(_url(room))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in html
    assert 'accept=".csv,text/csv"' in html
    assert "<code>name</code>" in html and "<code>email</code>" in html
    assert "Ada Lovelace,ada@example.com,Presenter" in html


def test_a_preview_shows_each_row_and_writes_nothing(client, role_admin, room):
    IdentityFactory(display_name="Alan Turing", email="alan@example.com")
    before = _counts()
    client.force_login(role_admin)
    response = _upload(client, room, GOOD_CSV)
    html = response.content.decode()
    assert response.status_code == 200
    assert _counts() == before
    assert "Ada Lovelace" in html and "Grace Hopper" in html
    assert "Add</span> new identity" in html
    assert "Add</span> the portal knows Alan Turing" in html
    assert 'name="apply"' in html
    assert "Apply: add 3 people" in html
    assert "Ada Lovelace,ada@example.com,Presenter" in _hidden_csv(html)


def test_a_bad_row_is_named_by_its_line_and_nothing_can_be_applied(client, scheduler, room):
    before = _counts()
    client.force_login(scheduler)
    response = _upload(client, room, GOOD_CSV + "Bob,bob@,Attendee\nOlga,olga@example.com,\n")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Line 5: &#x27;bob@&#x27; is not a valid e-mail address." in html
    # Olga is in the room as the file says: unchanged, not an error.
    assert "Line 6:" not in html
    assert "Unchanged</span> in the room as Attendee" in html
    assert "fix the file and upload it again" in html
    assert 'name="apply"' not in html
    assert _counts() == before


def test_applying_adds_everyone_in_one_participants_patch(
    client, role_admin, emulator, django_capture_on_commit_callbacks
):
    start = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_create(
            actor=role_admin,
            title="Synced",
            valid_from=start,
            valid_until=start + timedelta(hours=2),
        )
    run_tasks()
    client.force_login(role_admin)
    preview = _upload(client, room, GOOD_CSV).content.decode()
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(room), _apply(preview))
    assert response.status_code == 302
    run_tasks()
    assert dict(room.participants.values_list("identity__email", "role")) == {
        "ada@example.com": "Presenter",
        "alan@example.com": "Attendee",
        "grace@example.com": "Consumer",
    }
    assert "Added 3 people from the file to Synced." in client.get(response.url).content.decode()
    assert emulator.requests()["counts"].get("Participants_Update", 0) - before == 1


def test_apply_checks_the_file_again_and_shows_what_changed_instead(client, role_admin, room):
    client.force_login(role_admin)
    preview = _upload(client, room, GOOD_CSV).content.decode()
    # Someone adds Ada between the preview and Apply.
    services.participants_add(
        actor=role_admin,
        room=room,
        entries=[services.ParticipantEntry(NewPerson("Ada Lovelace", "ada@example.com"))],
    )
    before = _counts()
    response = client.post(_url(room), _apply(preview))
    html = html_lib.unescape(response.content.decode())
    assert response.status_code == 200
    assert "The room changed after your preview, so nothing was applied." in html
    # Ada's row is now a role change, which the new preview shows before anything is applied.
    assert "Change</span> Attendee → Presenter" in html
    assert "Apply: add 2 people and change 1 role" in html
    assert _counts() == before


def test_a_file_that_is_not_utf8_is_refused_clearly(client, scheduler, room):
    client.force_login(scheduler)
    response = _upload(client, room, "name,email\nJosé,jose@example.com\n".encode("latin-1"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "it is not UTF-8 text" in html
    assert 'name="apply"' not in html


def test_a_file_over_one_megabyte_is_refused(client, scheduler, room):
    client.force_login(scheduler)
    big = "name,email\n" + "x" * 1_000_001
    response = _upload(client, room, big)
    assert response.status_code == 200
    assert "larger than 1 MB" in response.content.decode()


def test_uploading_no_file_asks_for_one(client, scheduler, room):
    client.force_login(scheduler)
    response = client.post(_url(room), {"preview": "1"})
    assert response.status_code == 200
    assert "Choose a CSV file to upload." in response.content.decode()


def test_an_auditor_may_not_import(client, auditor, room):
    client.force_login(auditor)
    assert client.get(_url(room)).status_code == 403
    response = client.post(_url(room), {"csv": GOOD_CSV, "apply": "1"})
    assert response.status_code == 403
    assert room.participants.count() == 1
