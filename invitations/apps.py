"""Invitations: the e-mails and calendar entries that tell people about their rooms."""

from django.apps import AppConfig

# Seconds between two reads of the audit trail for changes (run_worker's housekeeper runs
# its jobs at most this often, and at least every couple of seconds).
SCAN_EVERY = 1.0


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = "Invitations"

    def ready(self) -> None:
        from invitations import push, services
        from outbox import registry

        push.register_pusher()  # the outbox sends each invitation through its pusher
        registry.every("invitations.scan", SCAN_EVERY, services.scan_all)
