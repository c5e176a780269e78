from django.apps import AppConfig


class JoiningConfig(AppConfig):
    name = "joining"
    verbose_name = "Join links"
