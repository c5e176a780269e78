"""Rooms with people and links for the joining tests, and a look at every stored value."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from identities.services import NewPerson
from rooms.models import Participant, Role
from rooms.services import ParticipantEntry, room_create
from tests.conftest import run_tasks

PEOPLE = (("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com"))


def make_room(
    actor, *, starts_in: timedelta, lasts: timedelta = timedelta(hours=3), title="Stand-up"
):
    """A room made as a scheduler makes one, with Ada and Alan as Attendees."""
    start = timezone.now() + starts_in
    return room_create(
        actor=actor,
        title=title,
        valid_from=start,
        valid_until=start + lasts,
        participants=[ParticipantEntry(NewPerson(*person), Role.ATTENDEE) for person in PEOPLE],
    )


def synced(room):
    """The room after the worker pushed it (and its people) to the emulator."""
    run_tasks()
    room.refresh_from_db()
    return room


@pytest.fixture
def live_room(emulator, scheduler, django_capture_on_commit_callbacks):
    """A room open for another three hours, in ACS with its people."""
    with django_capture_on_commit_callbacks(execute=True):
        room = make_room(scheduler, starts_in=timedelta(minutes=-5))
    return synced(room)


@pytest.fixture
def upcoming_room(scheduler):
    return make_room(scheduler, starts_in=timedelta(days=1), title="Tomorrow")


def person(room, email="ada@example.com") -> Participant:
    return Participant.objects.select_related("identity", "room").get(
        room=room, identity__email=email
    )


def database_text() -> str:
    """Every value of every table, as one text: what a copy of the database would hold."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)
