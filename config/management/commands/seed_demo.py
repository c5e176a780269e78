"""Fill a fresh portal with demo staff, people and rooms through the services, so ACS gets them."""

import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from identities.services import NewPerson
from portal.access import AUDITORS, ROLE_ADMINS, SCHEDULERS
from portal.models import AuditEvent
from rooms import recurrence
from rooms.models import Role, Room
from rooms.recurrence import Rule
from rooms.series import series_create, series_roll
from rooms.services import ParticipantEntry, room_create

STAFF = [
    ("sam", "Sam", "Scheduler", SCHEDULERS),
    ("rita", "Rita", "Roleadmin", ROLE_ADMINS),
    ("aldo", "Aldo", "Auditor", AUDITORS),
]

PEOPLE = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Katherine Johnson", "katherine@example.com"),
    ("Tim Berners-Lee", "tim@example.com"),
    ("Margaret Hamilton", "margaret@example.com"),
]


def _next_hour(now, hours: int = 1):
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


class Command(BaseCommand):
    help = "Create demo staff users (printing their password once), identities and rooms."

    def handle(self, *args, **options):
        # Only a fresh portal: one whose rooms were all deleted must not fill up again.
        if Room.objects.exists() or AuditEvent.objects.exists():
            self.stdout.write("The portal has been used already; no demo data added.")
            return
        User = get_user_model()
        actor = User.objects.filter(is_superuser=True).order_by("pk").first()
        if actor is None:
            self.stderr.write("Create the admin first: manage.py ensure_admin.")
            return
        password = secrets.token_urlsafe(12)
        created = []
        with transaction.atomic():
            for username, first, last, group in STAFF:
                if User.objects.filter(username=username).exists():
                    continue
                user = User.objects.create_user(
                    username=username,
                    first_name=first,
                    last_name=last,
                    password=password,
                    is_staff=True,
                )
                user.groups.add(Group.objects.get(name=group))
                created.append(f"{username} ({group})")
            self._rooms(actor)
        self.stdout.write(f"Added {Room.objects.count()} demo rooms with their participants.")
        if created:
            bar = "=" * 64
            self.stdout.write(
                f"{bar}\nDemo staff users: {', '.join(created)}\n"
                f"  password for each: {password}\nShown only once.\n{bar}"
            )

    def _rooms(self, actor) -> None:
        now = timezone.now()
        people = [NewPerson(display_name=name, email=email) for name, email in PEOPLE]

        def entries(*picks):
            return [ParticipantEntry(person=people[i], role=role) for i, role in picks]

        room_create(
            actor=actor,
            title="Project kick-off",
            notes="Live now: join from the portal's test client.",
            valid_from=now - timedelta(minutes=30),
            valid_until=_next_hour(now, 2),
            participants=entries((0, Role.PRESENTER), (1, Role.ATTENDEE), (2, Role.ATTENDEE)),
        )
        # A recurring room: every week at this time, its occurrences made ahead now.
        first = timezone.localtime(_next_hour(now, 2))
        series = series_create(
            actor=actor,
            title="Weekly stand-up",
            time_zone=first.tzinfo.key if isinstance(first.tzinfo, ZoneInfo) else "UTC",
            first_start=first.replace(tzinfo=None),
            duration=timedelta(minutes=30),
            rule=Rule(recurrence.WEEKLY),
            participants=entries((1, Role.PRESENTER), (3, Role.ATTENDEE), (4, Role.ATTENDEE)),
        )
        series_roll(series)
        room_create(
            actor=actor,
            title="Customer webinar",
            notes="Presenters share slides; the audience watches.",
            valid_from=_next_hour(now, 26),
            valid_until=_next_hour(now, 28),
            pstn_dial_out_enabled=True,
            participants=entries(
                (5, Role.PRESENTER), (0, Role.CONSUMER), (2, Role.CONSUMER), (4, Role.CONSUMER)
            ),
        )
        room_create(
            actor=actor,
            title="Quarterly board meeting",
            valid_from=_next_hour(now, 24 * 7),
            valid_until=_next_hour(now, 24 * 7 + 3),
            pstn_dial_out_enabled=True,
            participants=entries((3, Role.PRESENTER), (5, Role.COLLABORATOR)),
        )
