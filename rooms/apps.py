"""ACS rooms and their participants."""

from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Rooms"

    def ready(self) -> None:
        from rooms import signals, sync

        signals.connect()
        sync.register()  # the outbox finds this app's pusher through its registry
