"""ACS rooms and their participants."""

from django.apps import AppConfig

SERIES_ROLL_EVERY = 600.0  # seconds


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Rooms"

    def ready(self) -> None:
        from outbox import registry
        from rooms import series, signals, sync

        signals.connect()
        sync.register()  # the outbox finds this app's pusher through its registry
        # run_worker makes the series' next occurrences as their horizon moves on.
        registry.every("rooms.series_roll", SERIES_ROLL_EVERY, series.series_roll_due)
