"""Factories for identities."""

import factory

from identities.models import Identity


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    display_name = factory.Sequence(lambda n: f"Person {n}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
