"""The core app: access groups, the audit trail, HTTP helpers; it imports no other app."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import checks, lookups, middleware  # noqa: F401 - checks registers itself

        lookups.register()  # `field__in_array=` (the rooms search)

        # A sign-in starts the session's age and idle clocks (portal.middleware).
        middleware.connect_signals()
