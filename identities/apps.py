"""ACS user identities and their access tokens."""

from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Identities"

    def ready(self) -> None:
        from identities import signals, sync

        signals.connect()
        sync.register()  # the outbox finds this app's pusher through its registry
