"""The project's own app, for its commands (seed_demo, acs_emulator) and the dashboard."""

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "config"
    label = "project"
    verbose_name = "Project"
