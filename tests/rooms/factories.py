"""Factories for rooms and participants."""

from datetime import timedelta

import factory
from django.utils import timezone

from identities.services import NewPerson
from rooms import services
from rooms.models import Participant, Role, Room
from tests.identities.factories import IdentityFactory

# A participants CSV as people write one: a role given, one left blank, one in lower case.
GOOD_CSV = (
    "name,email,role\n"
    "Ada Lovelace,ada@example.com,Presenter\n"
    "Alan Turing,alan@example.com,\n"
    "Grace Hopper,grace@example.com,consumer\n"
)


def town_hall(owner, people=(), **fields) -> Room:
    """A two-hour room from an hour from now, made through room_create() as a scheduler would.

    `people` are (name, e-mail) or (name, e-mail, role) of new people to add.
    """
    start = timezone.now() + timedelta(hours=1)
    return services.room_create(
        actor=owner,
        title="Town hall",
        valid_from=start,
        valid_until=start + timedelta(hours=2),
        participants=[services.ParticipantEntry(NewPerson(*p[:2]), *p[2:]) for p in people],
        **fields,
    )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    title = factory.Sequence(lambda n: f"Room {n}")
    valid_from = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    valid_until = factory.LazyAttribute(lambda room: room.valid_from + timedelta(hours=2))
    owner = factory.SubFactory(UserFactory)


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    room = factory.SubFactory(RoomFactory)
    identity = factory.SubFactory(IdentityFactory)
    role = Role.ATTENDEE
