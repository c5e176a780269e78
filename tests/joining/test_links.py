"""Join links: made once per participant, stored as a hash, revoked by every way of leaving."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from identities.services import identity_delete
from joining import links
from joining.models import JoinLink
from portal.models import AuditEvent
from rooms import series as series_services
from rooms import services
from rooms.models import Participant, Role, Room
from rooms.recurrence import WEEKLY, Rule
from tests.joining.conftest import database_text, person

pytestmark = pytest.mark.django_db


def _secret(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_it_makes_one_absolute_link_per_participant_and_gives_it_again(upcoming_room, settings):
    settings.PORTAL_BASE_URL = "https://rooms.example.com"
    ada = person(upcoming_room)
    url = links.link_for(ada)
    assert url.startswith("https://rooms.example.com/join/")
    assert links.link_for(ada) == url
    assert JoinLink.objects.filter(participant=ada).count() == 1
    # 32 bytes of HMAC: 43 URL-safe characters.
    assert len(_secret(url)) == 43
    assert links.link_for(person(upcoming_room, "alan@example.com")) != url


def test_making_a_link_from_the_room_page_is_in_the_rooms_history(upcoming_room, scheduler):
    links.regenerate(person(upcoming_room), actor=scheduler)
    event = AuditEvent.objects.get(action="portal.join_link.created")
    assert event.room_id == upcoming_room.pk and event.actor_id == scheduler.pk


def test_the_secret_is_stored_in_no_column_only_its_hash(upcoming_room):
    secret = _secret(links.link_for(person(upcoming_room)))
    stored = database_text()
    assert secret not in stored
    link = JoinLink.objects.get()
    assert link.secret_hash in stored
    assert links.find(secret) == link


def test_the_database_alone_gives_no_link_without_the_secret_key(upcoming_room, settings):
    secret = _secret(links.link_for(person(upcoming_room)))
    settings.SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    assert links.secret_of(JoinLink.objects.get().nonce) != secret
    assert links.find(secret) is None


def test_a_tampered_or_malformed_secret_finds_nothing(upcoming_room):
    secret = _secret(links.link_for(person(upcoming_room)))
    tampered = ("A" if secret[0] != "A" else "B") + secret[1:]
    for attempt in (tampered, secret[:-1], secret + "x", "", "../../etc", "a" * 43):
        assert links.find(attempt) is None


def test_regenerating_revokes_the_old_link_and_is_in_the_rooms_history(upcoming_room, scheduler):
    ada = person(upcoming_room)
    old = _secret(links.link_for(ada))
    new = _secret(links.regenerate(ada, actor=scheduler))
    assert new != old
    assert links.find(old) is None
    assert links.find(new).participant == ada
    event = AuditEvent.objects.get(action="portal.join_link.regenerated")
    assert event.room_id == upcoming_room.pk and event.actor_id == scheduler.pk
    assert old not in repr(event.changes) and new not in event.target_label


def test_revoking_ends_the_link_and_says_why(upcoming_room, scheduler):
    ada = person(upcoming_room)
    secret = _secret(links.link_for(ada))
    assert links.revoke(ada, actor=scheduler, reason="lost phone") == 1
    assert links.find(secret) is None
    event = AuditEvent.objects.get(action="portal.join_link.revoked")
    assert event.changes["reason"]["after"] == "lost phone"
    assert event.room_id == upcoming_room.pk
    # A new link is a new secret; the old one stays dead.
    assert _secret(links.link_for(ada)) != secret
    assert links.find(secret) is None


def test_revoke_takes_ids_and_ignores_people_without_a_link(upcoming_room, scheduler):
    ada, alan = person(upcoming_room), person(upcoming_room, "alan@example.com")
    links.link_for(ada)
    assert links.revoke([ada.pk, alan.pk], actor=scheduler, reason="") == 1
    assert not JoinLink.objects.exists()


def test_auditors_may_neither_revoke_nor_regenerate(upcoming_room, auditor):
    ada = person(upcoming_room)
    secret = _secret(links.link_for(ada))
    with pytest.raises(PermissionDenied, match="rooms.add_participant"):
        links.revoke(ada, actor=auditor, reason="")
    with pytest.raises(PermissionDenied, match="rooms.add_participant"):
        links.regenerate(ada, actor=auditor)
    assert links.find(secret) is not None


def test_no_link_is_made_for_a_deleted_room(upcoming_room, scheduler):
    ada = person(upcoming_room)
    services.room_delete(actor=scheduler, room=upcoming_room)
    with pytest.raises(ValidationError, match="deleted"):
        links.link_for(ada)


# --------------------------------------------------------------------------- every way out


def test_removing_the_participant_ends_their_link(upcoming_room, scheduler):
    ada = person(upcoming_room)
    secret = _secret(links.link_for(ada))
    services.participants_remove(actor=scheduler, room=upcoming_room, participant_ids=[ada.pk])
    assert links.find(secret) is None
    assert not JoinLink.objects.exists()


def test_deleting_the_identity_ends_its_links_in_every_room(upcoming_room, role_admin, scheduler):
    ada = person(upcoming_room)
    secret = _secret(links.link_for(ada))
    identity_delete(actor=role_admin, identity=ada.identity)
    assert not Participant.objects.filter(pk=ada.pk).exists()
    assert links.find(secret) is None


def test_deleting_the_room_ends_its_links_at_once_and_with_its_row(upcoming_room, scheduler):
    secret = _secret(links.link_for(person(upcoming_room)))
    services.room_delete(actor=scheduler, room=upcoming_room)
    assert links.find(secret) is None
    # Once ACS confirms the delete the row goes, its people and their links with it.
    Room.objects.filter(pk=upcoming_room.pk).delete()
    assert not JoinLink.objects.exists()


def _series_room(actor):
    start = timezone.now() + timedelta(days=2)
    series = series_services.series_create(
        actor=actor,
        title="Weekly",
        time_zone="UTC",
        first_start=start.replace(tzinfo=None, second=0, microsecond=0),
        duration=timedelta(minutes=30),
        rule=Rule(WEEKLY, count=2),
        participants=[
            services.ParticipantEntry(services.NewPerson("Ada", "ada@example.com"), Role.ATTENDEE)
        ],
    )
    series_services.series_roll(series)
    return series, Room.objects.filter(series=series).order_by("valid_from").first()


def test_leaving_a_series_ends_the_link_to_its_occurrences(role_admin):
    series, room = _series_room(role_admin)
    ada = person(room)
    secret = _secret(links.link_for(ada))
    series_services.series_roster_change(actor=role_admin, series=series, remove=[ada.identity_id])
    assert links.find(secret) is None


def test_cancelling_a_series_ends_the_links_to_its_occurrences(role_admin):
    series, room = _series_room(role_admin)
    secret = _secret(links.link_for(person(room)))
    series_services.series_cancel(actor=role_admin, series=series)
    assert links.find(secret) is None
