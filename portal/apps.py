"""The portal app: cross-cutting pieces (access groups, audit trail, dashboard)."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"
