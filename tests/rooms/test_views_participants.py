"""People on the room page: role changes, bulk changes, removing and adding people."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

import acs_gateway as acs
from identities.models import Identity
from identities.services import NewPerson
from portal.models import AuditEvent
from rooms import services
from rooms.models import Participant, Role
from tests.conftest import run_tasks
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import town_hall

pytestmark = pytest.mark.django_db


HTMX = {"HX-Request": "true"}


@pytest.fixture
def room(scheduler):
    return town_hall(
        scheduler,
        [
            ("Ada Lovelace", "ada@example.com"),
            ("Alan Turing", "alan@example.com"),
            ("Grace Hopper", "grace@example.com"),
        ],
    )


@pytest.fixture
def synced_room(emulator, scheduler, django_capture_on_commit_callbacks):
    """A room ACS holds already, with three attendees."""
    start = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_create(
            actor=scheduler,
            title="Synced",
            valid_from=start,
            valid_until=start + timedelta(hours=2),
            participants=[
                services.ParticipantEntry(NewPerson(f"P{n}", f"p{n}@example.com")) for n in range(3)
            ],
        )
    run_tasks()
    room.refresh_from_db()
    assert room.acs_id, (room.sync.state, room.sync.last_error, room.sync.next_try_at)
    return room


def _person(email: str) -> Participant:
    return Participant.objects.select_related("identity").get(identity__email=email)


def _roles(room) -> dict[str, str]:
    return dict(room.participants.values_list("identity__email", "role"))


def _role_url(room, participant):
    return reverse("rooms:role", args=[room.pk, participant.pk])


def _bulk(client, room, ids, headers=None, follow=False, **data):
    url = reverse("rooms:participants_bulk", args=[room.pk])
    data = {"participant": [str(pk) for pk in ids], **data}
    return client.post(url, data, headers=headers, follow=follow)


# ---------------------------------------------------------------------------- one role change


def test_a_role_change_by_htmx_returns_the_row_with_the_new_role(client, role_admin, room):
    ada = _person("ada@example.com")
    client.force_login(role_admin)
    response = client.post(_role_url(room, ada), {"role": "Presenter"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith(f'<tr id="participant-{ada.pk}">')
    assert html.count("<tr") == 1
    assert '<option value="Presenter" title="' in html
    assert "selected>Presenter</option>" in html
    assert "Saved" in html
    ada.refresh_from_db()
    assert ada.role == Role.PRESENTER


def test_a_role_change_without_javascript_redirects_with_a_message(client, role_admin, room):
    ada = _person("ada@example.com")
    client.force_login(role_admin)
    response = client.post(_role_url(room, ada), {"role": "Consumer"}, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("rooms:detail", args=[room.pk]))
    assert "Ada Lovelace is now Consumer." in response.content.decode()
    assert _person("ada@example.com").role == Role.CONSUMER


def test_a_role_admins_change_reaches_acs(
    client, role_admin, synced_room, emulator, django_capture_on_commit_callbacks
):
    participant = synced_room.participants.select_related("identity").first()
    client.force_login(role_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _role_url(synced_room, participant), {"role": "Presenter"}, headers=HTMX
        )
    assert response.status_code == 200
    run_tasks()
    held = acs.get_gateway().list_participants(synced_room.acs_id)
    assert held[participant.identity.raw_id] == "Presenter"


def test_an_unknown_role_is_named_in_the_row_and_changes_nothing(client, role_admin, room):
    ada = _person("ada@example.com")
    client.force_login(role_admin)
    response = client.post(_role_url(room, ada), {"role": "Kafka"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Unknown role &#x27;Kafka&#x27;" in html
    assert "selected>Attendee</option>" in html
    assert "Saved" not in html
    assert _person("ada@example.com").role == Role.ATTENDEE


def test_a_person_removed_meanwhile_is_reported_in_the_row(client, role_admin, room):
    ada = _person("ada@example.com")
    services.participants_remove(actor=role_admin, room=room, participant_ids=[ada.pk])
    client.force_login(role_admin)
    response = client.post(_role_url(room, ada), {"role": "Presenter"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "removed from the room meanwhile" in html
    assert html.count("<tr") == 1


def test_a_scheduler_may_not_change_a_role(client, scheduler, room):
    ada = _person("ada@example.com")
    client.force_login(scheduler)
    page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert f'id="role-{ada.pk}"' not in page
    response = client.post(_role_url(room, ada), {"role": "Presenter"})
    assert response.status_code == 403
    assert "rooms.change_participant" in response.content.decode()
    assert _person("ada@example.com").role == Role.ATTENDEE


def test_a_participant_of_another_room_is_not_found(client, role_admin, room, scheduler):
    other = services.room_create(
        actor=scheduler,
        title="Other",
        participants=[services.ParticipantEntry(NewPerson("Zed", "zed@example.com"))],
    )
    zed = _person("zed@example.com")
    client.force_login(role_admin)
    response = client.post(_role_url(room, zed), {"role": "Presenter"})
    assert response.status_code == 302
    assert _roles(other) == {"zed@example.com": "Attendee"}


# ---------------------------------------------------------------------------- bulk


def test_a_bulk_role_change_makes_one_participants_patch(
    client, role_admin, synced_room, emulator, django_capture_on_commit_callbacks
):
    ids = list(synced_room.participants.values_list("pk", flat=True))
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    client.force_login(role_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = _bulk(client, synced_room, ids, HTMX, action="role", role="Consumer")
    run_tasks()
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<section id="participants"')
    assert "Changed the role of 3 people to Consumer." in html
    assert set(_roles(synced_room).values()) == {"Consumer"}
    assert emulator.requests()["counts"]["Participants_Update"] - before == 1
    held = acs.get_gateway().list_participants(synced_room.acs_id)
    assert sorted(held.values()) == ["Consumer"] * 3


def test_a_bulk_remove_takes_the_selected_people_out(client, scheduler, room):
    ada, alan = _person("ada@example.com"), _person("alan@example.com")
    client.force_login(scheduler)
    response = _bulk(client, room, [ada.pk, alan.pk], action="remove", follow=True)
    assert "Removed 2 people from the room." in response.content.decode()
    assert _roles(room) == {"grace@example.com": "Attendee"}


def test_a_bulk_change_with_nothing_selected_changes_nothing(client, role_admin, room):
    client.force_login(role_admin)
    events = AuditEvent.objects.count()
    response = _bulk(client, room, [], HTMX, action="role", role="Presenter")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Select at least one person first: nothing was changed." in html
    assert set(_roles(room).values()) == {"Attendee"}
    assert AuditEvent.objects.count() == events


def test_a_bulk_remove_with_nothing_selected_says_so_without_javascript(client, scheduler, room):
    client.force_login(scheduler)
    response = _bulk(client, room, [], action="remove", follow=True)
    assert "Select at least one person first" in response.content.decode()
    assert room.participants.count() == 3


def test_a_scheduler_may_not_change_roles_in_bulk(client, scheduler, room):
    client.force_login(scheduler)
    ids = list(room.participants.values_list("pk", flat=True))
    response = _bulk(client, room, ids, action="role", role="Presenter")
    assert response.status_code == 403
    assert set(_roles(room).values()) == {"Attendee"}


# ---------------------------------------------------------------------------- single remove


def test_removing_one_person_by_htmx_empties_their_row(client, scheduler, room):
    ada = _person("ada@example.com")
    client.force_login(scheduler)
    url = reverse("rooms:participant_remove", args=[room.pk, ada.pk])
    response = client.post(url, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<tr" not in html
    assert '<span id="participant-count" hx-swap-oob="true">2</span>' in html
    assert "Removed Ada Lovelace from the room." in html
    assert not Participant.objects.filter(pk=ada.pk).exists()


def test_removing_one_person_without_javascript_redirects(client, scheduler, room):
    ada = _person("ada@example.com")
    client.force_login(scheduler)
    url = reverse("rooms:participant_remove", args=[room.pk, ada.pk])
    response = client.post(url, follow=True)
    assert "Removed Ada Lovelace from the room." in response.content.decode()
    assert room.participants.count() == 2


def test_an_auditor_may_not_remove_anyone(client, auditor, room):
    ada = _person("ada@example.com")
    client.force_login(auditor)
    url = reverse("rooms:participant_remove", args=[room.pk, ada.pk])
    assert client.post(url).status_code == 403
    assert room.participants.count() == 3


# ---------------------------------------------------------------------------- adding people


def _add(client, room, identities=(), people=(), role="Attendee", **extra):
    data = {
        "role": role,
        "identity": [str(i.pk) for i in identities],
        "new-TOTAL_FORMS": str(max(3, len(people))),
        "new-INITIAL_FORMS": "0",
        "add": "1",
        **extra,
    }
    for n, (name, email) in enumerate(people):
        data[f"new-{n}-display_name"] = name
        data[f"new-{n}-email"] = email
    return client.post(reverse("rooms:participants_add", args=[room.pk]), data)


def test_the_add_page_offers_three_blank_new_person_rows(client, role_admin, room):
    client.force_login(role_admin)
    response = client.get(reverse("rooms:participants_add", args=[room.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="new-2-display_name"' in html and 'name="new-3-display_name"' not in html
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert '<option value="Attendee" title="' in html


def test_the_add_page_offers_a_scheduler_no_role_picker(client, scheduler, room):
    client.force_login(scheduler)
    html = client.get(reverse("rooms:participants_add", args=[room.pk])).content.decode()
    assert '<option value="Presenter"' not in html
    assert "Everyone you add joins as an <strong>Attendee</strong>" in html


def test_a_scheduler_posting_a_role_anyway_is_refused_naming_the_permission(
    client, scheduler, synced_room
):
    client.force_login(scheduler)
    known = IdentityFactory(display_name="Katherine Johnson", email="kj@example.com")
    response = _add(client, synced_room, identities=[known], people=[], role="Presenter")
    assert response.status_code == 403
    assert "rooms.change_participant" in response.content.decode()
    assert not synced_room.participants.filter(identity=known).exists()


def test_it_adds_people_it_knows_and_new_people_in_one_submit(
    client, role_admin, synced_room, emulator, django_capture_on_commit_callbacks
):
    known = IdentityFactory(display_name="Katherine Johnson", email="kj@example.com")
    before = emulator.requests()["counts"].get("Participants_Update", 0)
    client.force_login(role_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = _add(
            client,
            synced_room,
            identities=[known],
            people=[("Dorothy Vaughan", "dv@example.com"), ("Mary Jackson", "mj@example.com")],
            role="Presenter",
        )
    assert response.status_code == 302
    run_tasks()
    page = client.get(response.url).content.decode()
    assert "Added 3 people to Synced." in page
    roles = _roles(synced_room)
    assert {roles[e] for e in ("kj@example.com", "dv@example.com", "mj@example.com")} == {
        "Presenter"
    }
    assert emulator.requests()["counts"]["Participants_Update"] - before == 1


def test_a_person_listed_twice_is_refused_and_nothing_is_saved(client, scheduler, room):
    known = IdentityFactory(display_name="Katherine Johnson", email="kj@example.com")
    identities = Identity.objects.count()
    client.force_login(scheduler)
    response = _add(
        client,
        room,
        identities=[known],
        people=[("New Person", "new@example.com"), ("Katherine again", "kj@example.com")],
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nobody was added." in html
    assert "is listed twice." in html
    assert Identity.objects.count() == identities
    assert room.participants.count() == 3


def test_someone_already_in_the_room_is_refused(client, scheduler, room):
    client.force_login(scheduler)
    response = _add(client, room, people=[("Ada", "ada@example.com")])
    assert response.status_code == 200
    assert "is already in the room." in response.content.decode()
    assert room.participants.count() == 3


def test_a_bad_email_is_shown_beside_its_field(client, scheduler, room):
    client.force_login(scheduler)
    response = _add(client, room, people=[("Bob", "bob@")])
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid email address." in html
    assert room.participants.count() == 3


def test_submitting_nothing_says_so(client, scheduler, room):
    client.force_login(scheduler)
    response = _add(client, room)
    assert response.status_code == 200
    assert services.NOTHING_TO_ADD in response.content.decode()


def test_add_another_row_adds_a_blank_row_and_saves_nothing(client, scheduler, room):
    client.force_login(scheduler)
    response = _add(client, room, people=[("Dorothy", "dv@example.com")], more="1")
    html = response.content.decode()
    assert 'name="new-3-display_name"' in html
    assert 'value="Dorothy"' in html
    assert room.participants.count() == 3


def test_the_search_lists_matching_people_not_in_the_room(client, scheduler, room):
    IdentityFactory(display_name="Katherine Johnson", email="kj@example.com")
    IdentityFactory(display_name="Kathy Deleted", email="kd@example.com", deleted_at=timezone.now())
    ticked = IdentityFactory(display_name="Mary Jackson", email="mj@example.com")
    client.force_login(scheduler)
    url = reverse("rooms:identity_search", args=[room.pk])
    response = client.get(url, {"q": "kat", "identity": [ticked.pk]}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<div id="identity-results"')
    assert "Katherine Johnson" in html
    assert "Kathy Deleted" not in html
    assert f'value="{ticked.pk}" form="add-form" checked' in html
    assert (
        client.get(url, {"q": "ada"}, headers=HTMX).content.decode().count('name="identity"') == 0
    )


def test_the_search_works_without_javascript_too(client, scheduler, room):
    IdentityFactory(display_name="Katherine Johnson", email="kj@example.com")
    client.force_login(scheduler)
    response = client.get(reverse("rooms:participants_add", args=[room.pk]), {"q": "kath"})
    html = response.content.decode()
    assert 'value="kath"' in html
    assert "Katherine Johnson" in html and "Ada Lovelace" not in html


def test_the_search_shows_at_most_twenty_people(client, scheduler, room):
    IdentityFactory.create_batch(25)
    client.force_login(scheduler)
    url = reverse("rooms:identity_search", args=[room.pk])
    html = client.get(url, {"q": "person"}, headers=HTMX).content.decode()
    assert html.count('name="identity"') == 20


def test_an_auditor_may_not_add_people(client, auditor, room):
    client.force_login(auditor)
    response = client.get(reverse("rooms:participants_add", args=[room.pk]))
    assert response.status_code == 403
    assert "rooms.add_participant" in response.content.decode()


@pytest.mark.parametrize("change", ["one role", "bulk role", "remove"])
def test_a_change_made_with_htmx_shows_its_push_in_the_sync_badge_at_once(
    client, role_admin, synced_room, change
):
    assert synced_room.sync.state == "synced"
    first = synced_room.participants.order_by("pk").first()
    client.force_login(role_admin)
    url, data = {
        "one role": (reverse("rooms:role", args=[synced_room.pk, first.pk]), {"role": "Presenter"}),
        "bulk role": (
            reverse("rooms:participants_bulk", args=[synced_room.pk]),
            {"participant": [first.pk], "action": "role", "role": "Presenter"},
        ),
        "remove": (reverse("rooms:participant_remove", args=[synced_room.pk, first.pk]), {}),
    }[change]
    # The worker has not pushed yet (no commit hook runs): the badge must say so, and poll.
    response = client.post(url, data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="sync-badge-{synced_room.pk}" hx-swap-oob="true"' in html
    assert "Waiting to be pushed" in html and 'hx-trigger="every 2s"' in html
