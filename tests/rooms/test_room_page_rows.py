"""The people table's rows, prepared once per response (rooms/views/people_rows.py).

The rows used to be written by a template that reversed four URLs, ran two {% csrf_token %}
tags and looped over the roles in every row; they are now made from precomputed strings. These
tests hold the new rows to the old ones: the same HTML for each kind of user and person, forms
that post their own CSRF token to their own row's URLs, and the htmx row answers still whole.
"""

import re
from html import unescape
from pathlib import Path

import pytest
from django.template import RequestContext, engines
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from identities.models import Identity
from rooms import participant_selectors as selectors
from rooms.models import Participant, Role
from rooms.participant_forms import ROLES
from rooms.views import people_rows
from tests.rooms.factories import town_hall

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TOKEN = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">')

# The row as the template wrote it before, per row: the reference the prepared rows must match.
NAIVE_ROW = (Path(__file__).parent / "naive_participant_row.html").read_text()


@pytest.fixture
def room(role_admin):
    room = town_hall(
        role_admin,
        [
            ('Ada "<b>Lovelace</b>" & co {0} {row}', "ada+room@example.com"),
            ("Alan Turing", "alan@example.com", Role.PRESENTER),
            ("Grace Hopper", ""),
        ],
    )
    Identity.objects.filter(display_name="Grace Hopper").update(
        raw_id="8:acs:1234567890-abcdefghij-<x>", email=""
    )
    Identity.objects.filter(display_name="Alan Turing").update(deleted_at=timezone.now())
    return room


def _page(client, user, room) -> str:
    client.force_login(user)
    response = client.get(reverse("rooms:detail", args=[room.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, pk: int) -> str:
    match = re.search(rf'<tr id="participant-{pk}">.*?</tr>', html, re.S)
    assert match, f"no row for participant {pk}"
    return match.group(0)


def _naive_row(user, room, participant, **extra) -> str:
    request = RequestFactory().get("/")
    request.user = user
    context = RequestContext(
        request,
        {
            "room": room,
            "participant": participant,
            "roles": ROLES,
            "can_select": user.has_perm("rooms.change_participant")
            or user.has_perm("rooms.delete_participant"),
            **extra,
        },
    )
    html = engines["django"].engine.from_string(NAIVE_ROW).render(context)
    return _row(html, participant.pk)


def _without_tokens(html: str) -> str:
    return TOKEN.sub('<input type="hidden" name="csrfmiddlewaretoken" value="…">', html)


@pytest.mark.parametrize("who", ["role_admin", "scheduler", "auditor"])
def test_each_row_is_the_html_the_row_template_wrote(client, request, room, who):
    user = request.getfixturevalue(who)
    html = _page(client, user, room)
    participants = Participant.objects.filter(room=room).select_related("identity")
    assert len(participants) == 3
    for participant in participants:
        expected = _naive_row(user, room, participant)
        assert _without_tokens(_row(html, participant.pk)) == _without_tokens(expected)


def test_names_and_ids_are_escaped_once(client, role_admin, room):
    html = _page(client, role_admin, room)
    ada = Participant.objects.get(identity__email="ada+room@example.com")
    row = _row(html, ada.pk)
    assert "<b>" not in row
    assert "Select Ada &quot;&lt;b&gt;Lovelace&lt;/b&gt;&quot; &amp; co {0} {row}</label>" in row
    assert "&amp;amp;" not in row
    grace = Participant.objects.get(identity__display_name="Grace Hopper")
    assert '<code title="8:acs:1234567890-abcdefghij-&lt;x&gt;">…efghij-&lt;x&gt;</code>' in html
    assert '<span class="muted">—</span>' in _row(html, grace.pk)


def test_each_rows_forms_post_to_that_row_with_a_csrf_token(client, role_admin, room):
    html = _page(client, role_admin, room)
    for participant in room.participants.all():
        row = _row(html, participant.pk)
        role_url = reverse("rooms:role", args=[room.pk, participant.pk])
        remove_url = reverse("rooms:participant_remove", args=[room.pk, participant.pk])
        assert f'action="{role_url}"' in row and f'hx-post="{role_url}"' in row
        assert f'action="{remove_url}"' in row and f'hx-post="{remove_url}"' in row
        forms = re.findall(r"<form.*?</form>", row, re.S)
        assert len(forms) == 2
        assert all(len(TOKEN.findall(form)) == 1 for form in forms)


def test_a_rows_token_is_accepted_without_javascript(role_admin, room):
    """With CSRF checks on, the role form posts the token the row carries, and it is taken."""
    client = Client(enforce_csrf_checks=True)
    html = _page(client, role_admin, room)
    grace = Participant.objects.get(identity__display_name="Grace Hopper")
    token = TOKEN.search(_row(html, grace.pk)).group(1)
    url = reverse("rooms:role", args=[room.pk, grace.pk])
    assert client.post(url, {"role": Role.CONSUMER}).status_code == 403
    response = client.post(url, {"role": Role.CONSUMER, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    grace.refresh_from_db()
    assert grace.role == Role.CONSUMER


def test_the_role_change_answer_is_the_row_with_its_new_role(client, role_admin, room):
    client.force_login(role_admin)
    grace = Participant.objects.select_related("identity").get(
        identity__display_name="Grace Hopper"
    )
    response = client.post(
        reverse("rooms:role", args=[room.pk, grace.pk]), {"role": Role.PRESENTER}, headers=HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    grace.refresh_from_db()
    expected = _naive_row(role_admin, room, grace, saved=True)
    assert _without_tokens(_row(html, grace.pk)) == _without_tokens(expected)
    assert f'<option value="{Role.PRESENTER}" title="' in html
    assert re.search(rf'<option value="{Role.PRESENTER}" title="[^"]*" selected>', html)
    assert '<span class="row-saved" role="status">Saved</span>' in html
    assert len(TOKEN.findall(_row(html, grace.pk))) == 2


def test_a_refused_role_change_answers_the_row_with_its_error(client, role_admin, room):
    client.force_login(role_admin)
    grace = Participant.objects.select_related("identity").get(
        identity__display_name="Grace Hopper"
    )
    response = client.post(
        reverse("rooms:role", args=[room.pk, grace.pk]), {"role": "Boss"}, headers=HTMX
    )
    html = response.content.decode()
    error = unescape(re.search(r'<p class="errorlist" role="alert">(.*?)</p>', html).group(1))
    expected = _naive_row(role_admin, room, grace, row_error=error)
    assert _without_tokens(_row(html, grace.pk)) == _without_tokens(expected)
    assert 'aria-invalid="true"' in html


def test_the_bulk_answer_has_the_same_rows_as_the_page(client, role_admin, room):
    client.force_login(role_admin)
    ids = list(room.participants.values_list("pk", flat=True))
    response = client.post(
        reverse("rooms:participants_bulk", args=[room.pk]),
        {"participant": ids[:1], "action": "role", "role": Role.ATTENDEE},
        headers=HTMX,
    )
    html = response.content.decode()
    page = _page(client, role_admin, room)
    for pk in ids:
        assert _without_tokens(_row(html, pk)) == _without_tokens(_row(page, pk))


def test_people_are_read_by_name_without_joining_every_identity(room, django_assert_num_queries):
    """The participants query reads names through the identity's primary key, not a join that
    PostgreSQL hash-joined against a scan of all identities for a large room."""
    other = Identity.objects.create(display_name="Aaron Outsider", email="aaron@example.com")
    queryset = selectors.room_participants(room=room)
    assert " JOIN " not in str(queryset.query).upper()
    with django_assert_num_queries(2):
        people = [(p.identity.display_name, p.identity.email) for p in queryset]
    assert [name for name, _ in people] == sorted(name for name, _ in people)
    assert len(people) == 3 and other.display_name not in dict(people)


def test_a_row_pattern_keeps_braces_and_refuses_unknown_placeholders():
    mark = people_rows._MARK
    pattern = people_rows._stamp(f'<tr id="{mark}pk{mark}" data-x="{{a}}">', ["pk"])
    assert pattern is not None
    assert pattern.format_map({"pk": "7"}) == '<tr id="7" data-x="{a}">'
    # A row value changed by the template (here cut short) no longer names a value: no pattern.
    assert people_rows._stamp(f"<td>{mark}pk</td>", ["pk"]) is None
    assert people_rows._stamp(f"<td>{mark}PK{mark}</td>", ["pk"]) is None
