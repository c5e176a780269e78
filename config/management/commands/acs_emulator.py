"""Serve the embedded ACS emulator on a socket, so any ACS client sees what the portal pushed."""

from django.conf import settings
from django.core.management.base import BaseCommand

from acs_emulator.__main__ import main


class Command(BaseCommand):
    help = (
        "Serve the embedded ACS emulator (the portal's own state file by default) on a socket; "
        "prints ACS_CONNECTION_STRING (and ACS_CA_BUNDLE with --tls) for any ACS client."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8791, help="0 picks a free port")
        parser.add_argument("--tls", action="store_true", help="serve https with a generated CA")
        parser.add_argument(
            "--state",
            default=str(settings.ACS_EMULATOR_STATE),
            help="SQLite state file (default: the portal's ACS_EMULATOR_STATE)",
        )
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host, port, tls, state, quiet, **options):
        argv = ["--host", host, "--port", str(port), "--state", state]
        argv += ["--tls"] * tls + ["--quiet"] * quiet
        main(argv)
