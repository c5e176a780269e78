"""The outbox: where every object mirrored in ACS stands with ACS, and who is pushing it."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    label = "outbox"
    verbose_name = "ACS sync"
    default_auto_field = "django.db.models.BigAutoField"
