"""A deleted room's page stays readable, read-only, before and after ACS confirms the delete;
every view that would change a deleted room answers 410 with the reason, never a 500."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from outbox.models import SyncState
from portal.models import AuditEvent
from rooms import selectors, services
from rooms.models import Participant, Role, Room
from rooms.sync import push_room
from tests.rooms.factories import RoomFactory, town_hall

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def room(role_admin):
    made = town_hall(
        role_admin,
        [
            ("Ada Lovelace", "ada@example.com"),
            ("Alan Turing", "alan@example.com", "Presenter"),
            ("Grace Hopper", "grace@example.com"),
        ],
        notes="Bring the quarterly numbers.",
    )
    grace = Participant.objects.get(room=made, identity__email="grace@example.com")
    services.participants_remove(actor=role_admin, room=made, participant_ids=[grace.pk])
    ada = Participant.objects.get(room=made, identity__email="ada@example.com")
    services.participant_role_change(actor=role_admin, participant=ada, role=Role.CONSUMER)
    return made


def _deleted(room, actor, *, confirmed: bool) -> None:
    if confirmed:
        push_room(room.pk)  # in ACS first, so ACS has a room to delete
    services.room_delete(actor=actor, room=room)
    if confirmed:
        # The push deletes it in ACS, and the row goes once ACS confirms (rooms.sync).
        assert push_room(room.pk) == "deleted"
        assert not Room.objects.filter(pk=room.pk).exists()


def _page(client, user, room) -> str:
    client.force_login(user)
    response = client.get(reverse("rooms:detail", args=[room.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _main(html: str) -> str:
    return html.split("</header>", 1)[1]


@pytest.mark.parametrize("confirmed", [False, True], ids=["tombstone", "row gone"])
def test_a_deleted_rooms_page_is_readable_and_read_only(
    client, emulator, role_admin, scheduler, room, confirmed
):
    _deleted(room, scheduler, confirmed=confirmed)

    html = _page(client, role_admin, room)

    assert "<title>Town hall (deleted) · ACS Rooms portal</title>" in html
    assert '<span class="badge badge-deleted">Deleted</span>' in html
    assert re.search(r"Deleted <time[^>]*>.*?</time> by sam\.scheduler\.", html, re.S)
    assert "Bring the quarterly numbers." in html
    assert '<time datetime="' in html.split('class="fact fact-window"', 1)[1]
    # Its people as they were when it was deleted: Grace had left, Ada had become a Consumer.
    people = html.split('id="participants"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'<th scope="row">([^<]+)</th>', people) == ["Ada Lovelace", "Alan Turing"]
    assert "Consumer" in people and "Presenter" in people and "ada@example.com" in people
    # Its history, and what ACS said.
    history = html.split('id="history"', 1)[1]
    assert "Room deleted" in history and "Room created" in history
    if confirmed:
        assert "Deleted: ACS no longer holds it." in html
        answers = html.split('id="acs-answers"', 1)[1].split("</section>", 1)[0]
        assert "ACS answered 204" in answers
    else:
        assert "Being deleted: waiting for ACS to confirm" in html
    # Nothing on it changes anything: no form but sign-out, no edit, extend or add-people link.
    main = _main(html)
    assert "<form" not in main and "<select" not in main and "hx-post" not in main
    for name in ("edit", "delete", "extend", "participants_add", "participants_import"):
        assert reverse(f"rooms:{name}", args=[room.pk]) not in main
    assert "Extend by 7 days" not in main and "Add people" not in main


def test_the_page_of_a_deleted_room_reads_in_a_few_queries(
    client, emulator, role_admin, scheduler, room, django_assert_max_num_queries
):
    _deleted(room, scheduler, confirmed=True)
    client.force_login(role_admin)
    client.get(reverse("rooms:detail", args=[room.pk]))  # sessions, permissions, content types

    with django_assert_max_num_queries(12):
        response = client.get(reverse("rooms:detail", args=[room.pk]))

    assert response.status_code == 200


def test_a_deleted_rooms_full_history_stays_readable(client, emulator, scheduler, room):
    _deleted(room, scheduler, confirmed=True)
    client.force_login(scheduler)

    response = client.get(reverse("rooms:history", args=[room.pk]))

    assert response.status_code == 200
    assert "History of Town hall" in response.content.decode()


def test_an_auditor_reads_a_deleted_room_too(client, emulator, scheduler, auditor, room):
    _deleted(room, scheduler, confirmed=True)
    html = _page(client, auditor, room)
    assert "Ada Lovelace" in html and "Room deleted" in html


def test_the_rooms_a_deleted_room_is_hidden_from_stay_so(client, emulator, scheduler, room):
    _deleted(room, scheduler, confirmed=False)
    client.force_login(scheduler)

    listed = client.get(reverse("rooms:list"), {"state": "any"}).content.decode()
    calendar = client.get(
        reverse("rooms:calendar"), {"week": timezone.localdate(room.valid_from).isoformat()}
    ).content.decode()
    dashboard = client.get(reverse("dashboard")).content.decode()

    for html in (listed, calendar):
        assert f'href="/rooms/{room.pk}/"' not in html
    assert "Town hall" not in dashboard.split('id="dash-history"', 1)[0]


# --------------------------------------------------------------------------- writes refused


def _writes(room, participant):
    """Every view that would change the room: (method, url)."""
    pk = room.pk
    return [
        ("get", reverse("rooms:edit", args=[pk])),
        ("post", reverse("rooms:edit", args=[pk])),
        ("get", reverse("rooms:delete", args=[pk])),
        ("post", reverse("rooms:delete", args=[pk])),
        ("post", reverse("rooms:duplicate", args=[pk])),
        ("get", f"{reverse('rooms:create')}?copy={pk}"),
        ("post", reverse("rooms:extend", args=[pk])),
        ("post", reverse("rooms:retry_sync", args=[pk])),
        ("post", f"{reverse('rooms:validate')}?room={pk}"),
        ("get", reverse("rooms:participants_add", args=[pk])),
        ("post", reverse("rooms:participants_add", args=[pk])),
        ("get", reverse("rooms:identity_search", args=[pk])),
        ("post", reverse("rooms:participants_bulk", args=[pk])),
        ("get", reverse("rooms:participants_import", args=[pk])),
        ("post", reverse("rooms:participants_import", args=[pk])),
        ("post", reverse("rooms:role", args=[pk, participant])),
        ("post", reverse("rooms:participant_remove", args=[pk, participant])),
    ]


@pytest.mark.parametrize("confirmed", [False, True], ids=["tombstone", "row gone"])
def test_every_change_to_a_deleted_room_is_refused_with_410_and_changes_nothing(
    client, emulator, superuser, scheduler, room, confirmed
):
    participant = room.participants.first().pk
    _deleted(room, scheduler, confirmed=confirmed)
    client.force_login(superuser)
    events = AuditEvent.objects.count()
    form = {"version": "9", "role": "Presenter", "action": "role", "participant": participant}

    for method, url in _writes(room, participant):
        response = getattr(client, method)(url, form if method == "post" else None)
        assert response.status_code == 410, (method, url, response.status_code)
        html = response.content.decode()
        assert "“Town hall” was deleted on " in html, url
        assert "nothing was changed" in html, url

    assert AuditEvent.objects.count() == events
    assert Participant.objects.filter(room_id=room.pk).count() == (0 if confirmed else 2)


def test_an_htmx_change_to_a_deleted_room_is_sent_to_its_page_with_the_reason(
    client, emulator, role_admin, scheduler, room
):
    participant = room.participants.first()
    _deleted(room, scheduler, confirmed=True)
    client.force_login(role_admin)

    response = client.post(
        reverse("rooms:role", args=[room.pk, participant.pk]), {"role": "Attendee"}, headers=HTMX
    )

    assert response.status_code == 410
    assert response["HX-Redirect"] == reverse("rooms:detail", args=[room.pk])
    page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert "so it can no longer be changed" in page


def test_a_permission_is_checked_before_the_room_is_looked_at(client, auditor, scheduler, room):
    _deleted(room, scheduler, confirmed=False)
    client.force_login(auditor)

    response = client.post(reverse("rooms:extend", args=[room.pk]))

    assert response.status_code == 403
    assert "rooms.change_room" in response.content.decode()


# --------------------------------------------------------------------------- the reader


def test_the_history_gives_the_rooms_fields_and_people_at_the_delete(
    emulator, role_admin, scheduler, room
):
    from identities.services import identity_delete

    before = {name: getattr(room, name) for name in services.ROOM_FIELDS}
    push_room(room.pk)
    services.room_delete(actor=scheduler, room=room)
    # Alan's identity deleted after the room: he leaves the tombstone, but was in the room.
    alan = Participant.objects.get(room=room, identity__email="alan@example.com").identity
    identity_delete(actor=role_admin, identity=alan)
    assert push_room(room.pk) == "deleted"

    gone = selectors.deleted_room(user=scheduler, pk=room.pk)

    assert gone is not None and gone.from_history
    assert {name: getattr(gone.room, name) for name in services.ROOM_FIELDS} == before
    assert gone.owner == role_admin.username
    assert gone.deleted_by == scheduler.username
    assert [(p.name, p.email, p.role) for p in gone.people] == [
        ("Ada Lovelace", "ada@example.com", "Consumer"),
        ("Alan Turing", "alan@example.com", "Presenter"),
    ]


def test_a_live_room_or_one_that_never_was_is_not_a_deleted_room(scheduler, room):
    assert selectors.deleted_room(user=scheduler, pk=room.pk) is None
    assert selectors.deleted_room(user=scheduler, pk=987654) is None


def test_a_deleted_room_is_read_only_for_those_who_may_view_rooms(db, scheduler, room):
    from tests.rooms.factories import UserFactory

    services.room_delete(actor=scheduler, room=room)
    assert selectors.deleted_room(user=UserFactory(), pk=room.pk) is None


def test_a_tombstone_still_failing_to_reach_acs_shows_the_error(
    client, scheduler, role_admin, room
):
    from tests.outbox_rows import set_sync

    services.room_delete(actor=scheduler, room=room)
    set_sync(
        Room.objects.get(pk=room.pk),
        state=SyncState.FAILED,
        last_error="ACS did not answer.",
        next_try_at=timezone.now() + timedelta(minutes=1),
    )

    html = _page(client, role_admin, room)

    assert "Being deleted: waiting for ACS to confirm" in html
    assert "ACS did not answer." in html


def test_a_room_never_pushed_and_deleted_reads_from_its_history(client, scheduler):
    made = RoomFactory(title="Scratch", owner=scheduler)
    services.room_delete(actor=scheduler, room=made)
    Room.objects.filter(pk=made.pk).delete()  # as the push does once ACS has nothing to delete

    html = _page(client, scheduler, made)

    assert "Scratch" in html and "No one was in this room." in html
