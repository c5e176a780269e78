"""Apply a CSV roster (name, email, role) to a room: add people, change roles, all or nothing."""

import sys
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.ids import parse_id
from portal.services import require
from rooms import csv_import
from rooms.management import find_actor
from rooms.models import Room

# ACS room ids are 15 to 19 digits; portal ids stay far below that.
ACS_ID_DIGITS = 15


class Command(BaseCommand):
    help = (
        "Add everyone in a CSV file (columns name, email and optionally role) to a room, and "
        "give those in it already the file's role. Every row is checked first; with any bad "
        "row nothing is changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("room", help="The portal room id, or the room's ACS id.")
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8, `,` or `;`).")
        parser.add_argument(
            "--actor",
            metavar="USERNAME",
            help="Who adds the people (their permissions apply); default: the first superuser.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and show the plan only."
        )

    def handle(self, *args, room: str, file: Path, actor: str | None, dry_run: bool, **options):
        user = find_actor(actor)
        target = _find_room(room)
        try:
            # Checked before reading the file, so a refusal is not buried under row messages.
            require(user, "rooms.add_participant", "add participants")
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc

        plan = csv_import.parse_participants_csv(data, room=target, actor=user)
        if not plan.ok:
            for error in plan.errors:
                self.stderr.write(str(error))
            self.stderr.write(f"Nothing was added to {target}: fix the file and run this again.")
            sys.exit(1)
        if dry_run:
            for row in plan.rows:
                known = "known identity" if row.identity else "new identity"
                self.stdout.write(
                    f"Line {row.line}: {row.action} {row.name} <{row.email}> as {row.role} "
                    f"({known})"
                )
            changes = _role_changes(len(plan.changes), "change")
            self.stdout.write(
                f"Dry run: would add {_people(len(plan.adds))} to {target}{changes}; "
                "nothing was written."
            )
            return
        try:
            result = csv_import.apply_plan(actor=user, room=target, plan=plan)
        except ValidationError as exc:
            # The room changed since the check (someone added a listed person meanwhile).
            raise CommandError(f"Nothing was added: {'; '.join(exc.messages)}") from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        changes = _role_changes(len(result.changed), "changed")
        self.stdout.write(f"Added {_people(len(result.added))} to {target}{changes}.")


def _find_room(value: str) -> Room:
    rooms = Room.objects.filter(deleted_at__isnull=True)
    value = value.strip()
    room = None
    if value.isascii() and value.isdigit() and len(value) >= ACS_ID_DIGITS:
        room = rooms.filter(acs_id=value).first()
    elif (pk := parse_id(value)) is not None:
        room = rooms.filter(pk=pk).first()
    if room is None:
        raise CommandError(f"There is no room {value!r}: give the portal room id or its ACS id.")
    return room


def _people(count: int) -> str:
    return f"{count} participant" if count == 1 else f"{count} participants"


def _role_changes(count: int, verb: str) -> str:
    return f" and {verb} the role of {_people(count)}" if count else ""
