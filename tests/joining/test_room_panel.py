"""The room page's join-links panel and its buttons: for staff who may add people, no one else."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from joining import links
from joining.models import JoinLink
from joining.templatetags import joining_tags
from portal.models import AuditEvent
from tests.joining.conftest import person

pytestmark = pytest.mark.django_db


def _room_page(client, user, room) -> str:
    client.force_login(user)
    response = client.get(reverse("rooms:detail", args=[room.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_schedulers_see_each_persons_link_and_the_buttons(client, scheduler, upcoming_room):
    url = links.link_for(person(upcoming_room))
    page = _room_page(client, scheduler, upcoming_room)
    assert 'id="join-links"' in page
    assert url in page
    assert "No link yet" in page  # Alan has none
    assert reverse("joining:link_revoke", args=[person(upcoming_room).pk]) in page


def test_auditors_see_no_panel_and_no_link(client, auditor, upcoming_room):
    url = links.link_for(person(upcoming_room))
    page = _room_page(client, auditor, upcoming_room)
    assert 'id="join-links"' not in page
    assert url not in page


def test_the_history_shows_the_link_revoked(client, scheduler, upcoming_room):
    ada = person(upcoming_room)
    links.link_for(ada)
    client.force_login(scheduler)
    response = client.post(reverse("joining:link_revoke", args=[ada.pk]))
    assert response.status_code == 302
    assert response["Location"].endswith(f"/rooms/{upcoming_room.pk}/#join-links")
    assert not JoinLink.objects.exists()
    page = _room_page(client, scheduler, upcoming_room)
    assert "Join link revoked" in page
    assert "join link is revoked" in page


def test_a_new_link_replaces_the_old_one(client, scheduler, upcoming_room):
    ada = person(upcoming_room)
    old = links.link_for(ada)
    client.force_login(scheduler)
    client.post(reverse("joining:link_regenerate", args=[ada.pk]))
    new = links.link_for(ada)
    assert new != old
    page = _room_page(client, scheduler, upcoming_room)
    assert new in page and old not in page
    assert "Join link regenerated" in page


@pytest.mark.parametrize("name", ["joining:link_revoke", "joining:link_regenerate"])
def test_auditors_are_refused_and_nothing_changes(client, auditor, upcoming_room, name):
    ada = person(upcoming_room)
    url = links.link_for(ada)
    client.force_login(auditor)
    response = client.post(reverse(name, args=[ada.pk]))
    assert response.status_code == 403
    assert "rooms.add_participant" in response.content.decode()
    assert links.link_for(ada) == url


@pytest.mark.parametrize("name", ["joining:link_revoke", "joining:link_regenerate"])
def test_the_buttons_answer_only_post_and_signed_in_staff(client, scheduler, upcoming_room, name):
    ada = person(upcoming_room)
    path = reverse(name, args=[ada.pk])
    assert client.post(path).status_code == 302  # to the sign-in page
    assert client.post(path)["Location"].startswith("/login/")
    client.force_login(scheduler)
    assert client.get(path).status_code == 405
    assert client.post(reverse(name, args=["99999999999999999999999"])).status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="portal.join_link.r").exists()


def test_a_large_room_shows_the_links_a_page_at_a_time(
    client, scheduler, upcoming_room, monkeypatch
):
    monkeypatch.setattr(joining_tags, "PAGE", 1)
    first = _room_page(client, scheduler, upcoming_room)
    second = client.get(
        reverse("rooms:detail", args=[upcoming_room.pk]) + "?links_from=1"
    ).content.decode()
    ada, alan = person(upcoming_room), person(upcoming_room, "alan@example.com")
    assert f'id="join-link-{ada.pk}"' in first and f'id="join-link-{alan.pk}"' not in first
    assert "?links_from=1#join-links" in first and "(people 1 to 1)" in first
    assert f'id="join-link-{alan.pk}"' in second and f'id="join-link-{ada.pk}"' not in second
    assert "?links_from=0#join-links" in second and "(people 2 to 2)" in second


def test_the_room_pages_panels_read_people_without_joining_every_identity(
    client, scheduler, upcoming_room
):
    """The people table, the join-link panel and the invitations panel read the room's people
    by primary key: a join to identities let PostgreSQL hash all of them (15 ms at 100,000
    rooms, growing with them; docs/benchmarks.md)."""
    person(upcoming_room)
    links.link_for(person(upcoming_room))
    client.force_login(scheduler)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("rooms:detail", args=[upcoming_room.pk]))
    assert page.status_code == 200 and "join-links" in page.content.decode()
    joined = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "rooms_participant"' in q["sql"] and 'JOIN "identities_identity"' in q["sql"]
    ]
    assert joined == []
