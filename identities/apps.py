"""ACS user identities and their access tokens."""

from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Identities"

    def ready(self) -> None:
        from identities import signals  # noqa: F401 - registers the receivers
