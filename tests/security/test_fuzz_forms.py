"""Hostile input through the portal's forms, as a browser would post it.

Every form either refuses the input with a message beside it and changes nothing, or stores it
and shows it escaped; no input makes a page fail. The CSV export neutralises formula cells
whatever the trail holds.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import example, given
from hypothesis import strategies as st

from identities.models import Identity
from portal import audit
from portal.csv_export import FORMULA_START
from portal.models import AuditEvent
from rooms import rules
from rooms.models import Participant, Room
from rooms.services import room_create
from tests.security.test_fuzz_services import FUZZ, hostile_text

pytestmark = pytest.mark.django_db

# What a date-time field may receive: well-formed local times near now, and anything else.
_soon = timezone.now() + timedelta(days=1)
local_times = st.one_of(
    st.datetimes(
        min_value=_soon.replace(tzinfo=None),
        max_value=(_soon + timedelta(days=400)).replace(tzinfo=None),
    ).map(lambda value: value.strftime("%Y-%m-%dT%H:%M")),
    st.sampled_from(
        [
            "0001-01-01T00:00",
            "9999-12-31T23:59",
            "2027-03-28T02:30",  # does not exist in Europe/Paris
            "2027-10-31T02:30",  # happens twice in Europe/Paris
            "2027-02-30T10:00",
            "2027-01-01",
            "T10:00",
            "1e309",
        ]
    ),
    hostile_text,
)
zones = st.one_of(
    st.sampled_from(["UTC", "Europe/Paris", "Pacific/Kiritimati", "America/St_Johns"]),
    st.sampled_from(["Mars/Olympus", "../../etc/passwd", "", "Europe/Paris\x00", "EST5EDT"]),
    hostile_text,
)
# Things a user pastes into search boxes, ids and filters.
lookups = st.one_of(
    hostile_text,
    st.sampled_from(
        [
            "8:acs:",
            "8:acs:<script>alert(1)</script>",
            "8:acs:" + "f" * 5000,
            "99454291444134085",
            "-1",
            "0",
            "9" * 40,
            "%",
            "_",
            "\\",
            "' OR 1=1 --",
        ]
    ),
)


def _counts():
    return (
        Room.objects.count(),
        Participant.objects.count(),
        Identity.objects.count(),
        AuditEvent.objects.count(),
    )


def _refused(response) -> bool:
    """A form page answered again, with at least one error message shown; or, for a NUL (which
    the database cannot hold), the 400 page naming the field (portal.middleware)."""
    html = response.content.decode()
    if response.status_code == 400:
        return "contains invisible control characters" in html
    return response.status_code == 200 and 'class="errorlist' in html


def _no_markup_from(value: str, html: str) -> None:
    for tag in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>"):
        if tag in value:
            assert tag not in html


@pytest.fixture
def signed_in(client, superuser):
    client.force_login(superuser)
    return client


@FUZZ
@given(
    title=hostile_text,
    notes=hostile_text,
    valid_from=local_times,
    valid_until=local_times,
    time_zone=zones,
)
@example(
    title="<script>alert(1)</script>",
    notes='"><img src=x onerror=alert(1)>',
    valid_from=(_soon).strftime("%Y-%m-%dT%H:%M"),
    valid_until=(_soon + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    time_zone="UTC",
)
@example(
    title="Stand-up",
    notes="",
    valid_from="2027-03-28T02:30",
    valid_until="2027-03-28T04:00",
    time_zone="Europe/Paris",
)
@example(
    title="Stand-up",
    notes="",
    valid_from="2027-01-01T10:00",
    valid_until="2027-07-01T10:00",
    time_zone="UTC",
)
@example(
    title="Year one",
    notes="",
    valid_from="0001-01-01T00:00",
    valid_until="0001-01-01T01:00",
    time_zone="Europe/Paris",
)
def test_the_room_form_refuses_with_a_message_or_saves_exactly(
    signed_in, title, notes, valid_from, valid_until, time_zone
):
    before = _counts()
    data = {
        "title": title,
        "notes": notes,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "time_zone": time_zone,
    }
    response = signed_in.post(reverse("rooms:create"), data)
    if response.status_code != 302:
        assert _refused(response), response.content.decode()[:2000]
        assert _counts() == before
        _no_markup_from(title + notes, response.content.decode())
        return
    room = Room.objects.order_by("-pk").first()
    assert room.title == title.strip()
    assert room.notes == notes
    assert timedelta(0) < room.valid_until - room.valid_from <= rules.MAX_ROOM_LIFETIME
    page = signed_in.get(reverse("rooms:detail", args=[room.pk]))
    assert page.status_code == 200
    _no_markup_from(title + notes, page.content.decode())


@FUZZ
@given(display_name=hostile_text, email=hostile_text)
@example(display_name="<script>alert(1)</script>", email="a@example.com")
@example(display_name="Ada", email='"><img src=x onerror=alert(1)>@example.com')
def test_the_identity_form_refuses_with_a_message_or_saves_exactly(signed_in, display_name, email):
    before = _counts()
    response = signed_in.post(
        reverse("identities:create"), {"display_name": display_name, "email": email}
    )
    if response.status_code != 302:
        assert _refused(response), response.content.decode()[:2000]
        assert _counts() == before
        _no_markup_from(display_name + email, response.content.decode())
        return
    identity = Identity.objects.order_by("-pk").first()
    assert identity.display_name == " ".join(display_name.split())
    page = signed_in.get(reverse("identities:detail", args=[identity.pk]))
    assert page.status_code == 200
    _no_markup_from(display_name + email, page.content.decode())


@pytest.fixture
def room(superuser):
    start = timezone.now() + timedelta(hours=1)
    return room_create(
        actor=superuser, title="Fuzzed", valid_from=start, valid_until=start + timedelta(hours=1)
    )


@FUZZ
@given(
    name=hostile_text,
    email=hostile_text,
    role=st.sampled_from(["Attendee", "Presenter", "Consumer", "Collaborator"]) | hostile_text,
    identity=lookups,
)
@example(name="<script>alert(1)</script>", email="x@example.com", role="Presenter", identity="")
@example(name="Ada", email="ada@example.com", role="Owner", identity="")
@example(name="", email="", role="Attendee", identity="8:acs:<script>alert(1)</script>")
def test_adding_people_refuses_with_a_message_or_adds_them_exactly(
    signed_in, room, name, email, role, identity
):
    before = _counts()
    data = {
        "role": role,
        "identity": [identity] if identity else [],
        "new-TOTAL_FORMS": "3",
        "new-INITIAL_FORMS": "0",
        "new-0-display_name": name,
        "new-0-email": email,
        "add": "1",
    }
    response = signed_in.post(reverse("rooms:participants_add", args=[room.pk]), data)
    if response.status_code != 302:
        assert _refused(response), response.content.decode()[:2000]
        assert _counts() == before
        _no_markup_from(name + email + identity, response.content.decode())
        return
    added = Participant.objects.filter(room=room).select_related("identity").order_by("-pk").first()
    assert added.identity.display_name == " ".join(name.split())
    assert added.role == role
    page = signed_in.get(reverse("rooms:detail", args=[room.pk]))
    assert page.status_code == 200
    _no_markup_from(name + email, page.content.decode())


history_params = st.fixed_dictionaries(
    {},
    optional={
        "actor": lookups,
        "room": lookups,
        "target": lookups,
        "action": lookups | st.sampled_from(["portal.room.", "acs.", "portal.room.created"]),
        "failures": st.sampled_from(["on", "1", "", "yes"]) | hostile_text,
        "date_from": local_times.map(lambda v: v[:10]) | hostile_text,
        "date_to": local_times.map(lambda v: v[:10]) | hostile_text,
        "before": lookups,
        "after": lookups,
    },
)


@FUZZ
@given(params=history_params)
@example(params={"room": "9" * 40})
@example(params={"date_from": "9999-12-31", "date_to": "9999-12-31"})
@example(params={"date_from": "0001-01-01"})
@example(params={"actor": "<script>alert(1)</script>"})
@example(params={"actor": "x" * 10_000})
def test_any_history_filter_shows_a_page_or_explains_the_error(signed_in, params):
    for name, value in params.items():
        params[name] = value.replace("\x00", "")  # a browser never sends NUL in a URL
    response = signed_in.get(reverse("history"), params)
    assert response.status_code == 200
    html = response.content.decode()
    _no_markup_from(" ".join(params.values()), html)
    export = signed_in.get(reverse("history_export"), params)
    # A valid filter streams the CSV; an invalid one goes back to the page, which explains it
    # (or, for a query too long to redirect with, is that page).
    assert export.status_code in (200, 302)
    if export.status_code == 302:
        assert 'class="errorlist' in signed_in.get(export["Location"]).content.decode()
    elif not export["Content-Type"].startswith("text/csv"):
        assert 'class="errorlist' in export.content.decode()


@FUZZ
@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "q": lookups,
            "state": lookups,
            "sync": lookups,
            "owner": lookups,
            "day": lookups,
            "sort": lookups,
            "page": lookups,
        },
    )
)
def test_any_rooms_list_or_identities_search_shows_a_page(signed_in, params):
    params = {name: value.replace("\x00", "") for name, value in params.items()}
    for url in (reverse("rooms:list"), reverse("identities:list")):
        response = signed_in.get(url, params)
        assert response.status_code == 200
        _no_markup_from(" ".join(params.values()), response.content.decode())


formula_text = st.one_of(
    hostile_text,
    st.tuples(st.sampled_from(FORMULA_START), hostile_text).map("".join),
)


@FUZZ
@given(label=formula_text, value=formula_text, error=formula_text)
@example(label="=cmd|' /C calc'!A0", value="+1+1", error="@SUM(A1)")
@example(label="\t=1", value="\r=1", error="-2+3")
def test_no_exported_cell_starts_a_formula(signed_in, label, value, error):
    label, value, error = (text.replace("\x00", "") for text in (label, value, error))
    audit.record(
        action="acs.room.updated_failed",
        target=None,
        target_type="rooms.room",
        target_id=label[:64] or "1",
        target_label=label[:255],
        changes={"title": {"before": value, "after": value}},
        acs_outcome={"status": 500, "error_code": error[:50], "error": error},
    )
    response = signed_in.get(reverse("history_export"))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) >= 2  # the header and at least this event
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_START), row
