"""Factories for rooms and participants."""

from datetime import timedelta

import factory
from django.utils import timezone

from rooms.models import Participant, Role, Room
from tests.identities.factories import IdentityFactory


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
