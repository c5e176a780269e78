"""Hostile input to the services: refused with a message, or stored as given and shown escaped."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from identities.models import Identity
from identities.services import identity_create
from portal.models import AuditEvent
from rooms import rules
from rooms.csv_import import parse_participants_csv
from rooms.models import Room
from rooms.services import room_create

# As many examples as the Hypothesis profile gives (tests/conftest.py): fewer on a developer's
# machine, more in CI.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a hostile or careless user types: controls, markup, formulas, huge strings, odd unicode.
hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "=cmd|' /C calc'!A0",
            "@SUM(1+1)",
            "-2+3",
            "\u202eevil\u202c",
            "x" * 10_000,
            "nul\x00byte",
            "",
            "   ",
        ]
    ),
)


def _counts():
    return Room.objects.count(), Identity.objects.count(), AuditEvent.objects.count()


def _message(error: ValidationError) -> str:
    return " ".join(error.messages)


def _shown(value: str) -> str:
    return Template("{{ value }}").render(Context({"value": value}))


@pytest.mark.django_db
@FUZZ
@given(title=hostile_text, notes=hostile_text)
@example(title="nul\x00byte", notes="")  # PostgreSQL cannot store NUL: refused, not a 500
@example(title="Fine", notes="bell\x07")
@example(title="<script>alert(1)</script>", notes='"><img src=x onerror=alert(1)>')
def test_room_titles_and_notes_are_refused_or_stored_exactly(scheduler, title, notes):
    before = _counts()
    start = timezone.now() + timedelta(hours=1)
    try:
        room = room_create(
            actor=scheduler,
            title=title,
            notes=notes,
            valid_from=start,
            valid_until=start + timedelta(hours=1),
        )
    except ValidationError as error:
        assert _message(error)
        assert _counts() == before
        return
    room.refresh_from_db()
    assert room.title == title.strip()
    assert room.notes == notes
    assert "<script>" not in _shown(room.title)
    assert "<img" not in _shown(room.notes)


@pytest.mark.django_db
@FUZZ
@given(display_name=hostile_text, email=hostile_text)
@example(display_name="nul\x00byte", email="")
@example(display_name="Ada", email="ada\x00@example.com")
def test_identity_names_and_emails_are_refused_or_stored_exactly(scheduler, display_name, email):
    before = _counts()
    try:
        identity = identity_create(actor=scheduler, display_name=display_name, email=email)
    except ValidationError as error:
        assert _message(error)
        assert _counts() == before
        return
    identity.refresh_from_db()
    assert identity.display_name == " ".join(display_name.split())
    assert "<script>" not in _shown(identity.display_name)


aware_times = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone.get_fixed_timezone(14 * 60)]) | st.timezones(),
)


@FUZZ
@given(valid_from=aware_times | st.datetimes(), valid_until=aware_times | st.datetimes())
def test_any_window_is_either_accepted_or_refused_with_a_message(valid_from, valid_until):
    try:
        rules.check_window(valid_from, valid_until)
    except ValidationError as error:
        assert _message(error)
        return
    assert timedelta(0) < valid_until - valid_from <= rules.MAX_ROOM_LIFETIME


@pytest.mark.django_db
@FUZZ
@given(data=st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_any_csv_upload_is_parsed_into_rows_or_errors_with_line_numbers(csv_room, data):
    before = _counts()
    plan = parse_participants_csv(data, room=csv_room, actor=None)
    assert plan.rows or plan.errors
    for line, message in plan.errors:
        # None: the file as a whole (not text, no header); otherwise the line to fix.
        assert line is None or line >= 1
        assert message
    assert _counts() == before


@pytest.fixture
def csv_room(scheduler):
    start = timezone.now() + timedelta(hours=1)
    return room_create(
        actor=scheduler, title="Import", valid_from=start, valid_until=start + timedelta(hours=1)
    )


@pytest.mark.django_db
def test_a_control_character_is_refused_naming_the_field(scheduler):
    start = timezone.now() + timedelta(hours=1)
    with pytest.raises(ValidationError) as refused:
        room_create(
            actor=scheduler,
            title="Stand-up\x00",
            valid_from=start,
            valid_until=start + timedelta(hours=1),
        )
    assert refused.value.message_dict == {
        "title": ["The title contains invisible control characters; remove them and try again."]
    }
    assert _counts() == (0, 0, 0)
