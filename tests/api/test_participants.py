"""A room's participants through the API: the room page's services and rules."""

import pytest
from django.contrib.auth.models import Permission

from portal.models import AuditEvent
from rooms.models import Participant, Role, Room
from tests.api.conftest import error_of
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import town_hall

pytestmark = pytest.mark.django_db


def test_it_lists_a_rooms_people_by_name(api, superuser):
    room = town_hall(superuser, people=[("Zoe", "zoe@example.com"), ("Ada", "ada@example.com")])
    body = api.get(f"/rooms/{room.pk}/participants").json()
    assert [p["display_name"] for p in body] == ["Ada", "Zoe"]
    assert {p["role"] for p in body} == {Role.ATTENDEE}


def test_it_adds_identities_with_their_roles_in_one_go(api, superuser):
    room = town_hall(superuser)
    ada, alan = IdentityFactory(), IdentityFactory()
    response = api.post(
        f"/rooms/{room.pk}/participants",
        {"participants": [{"identity": ada.pk, "role": "Presenter"}, {"identity": alan.pk}]},
    )
    assert response.status_code == 201, response.content
    roles = dict(Participant.objects.filter(room=room).values_list("identity_id", "role"))
    assert roles == {ada.pk: Role.PRESENTER, alan.pk: Role.ATTENDEE}
    assert AuditEvent.objects.filter(action="portal.participant.added").count() == 2


def test_adding_someone_already_in_the_room_adds_nobody(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    ada = Participant.objects.get(room=room).identity
    other = IdentityFactory()
    response = api.post(
        f"/rooms/{room.pk}/participants",
        {"participants": [{"identity": other.pk}, {"identity": ada.pk}]},
    )
    assert response.status_code == 422
    assert "already in the room" in error_of(response)["message"]
    assert Participant.objects.filter(room=room).count() == 1


def test_an_unknown_identity_is_named_and_nothing_is_added(api, superuser):
    room = town_hall(superuser)
    response = api.post(f"/rooms/{room.pk}/participants", {"participants": [{"identity": 99999}]})
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "participants" and "99999" in error["message"]
    assert not Participant.objects.filter(room=room).exists()


def test_a_scheduler_may_add_attendees_but_not_give_roles(api_as, scheduler):
    room = town_hall(scheduler)
    person = IdentityFactory()
    api = api_as(scheduler)
    refused = api.post(
        f"/rooms/{room.pk}/participants",
        {"participants": [{"identity": person.pk, "role": "Presenter"}]},
    )
    assert refused.status_code == 403
    assert "rooms.change_participant" in error_of(refused)["message"]
    assert not Participant.objects.filter(room=room).exists()
    added = api.post(f"/rooms/{room.pk}/participants", {"participants": [{"identity": person.pk}]})
    assert added.status_code == 201


def test_it_changes_several_roles_at_once(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com"), ("Alan", "alan@example.com")])
    ada, alan = Participant.objects.filter(room=room).order_by("identity__display_name")
    response = api.post(
        f"/rooms/{room.pk}/participants/roles",
        {"roles": {str(ada.pk): "Presenter", str(alan.pk): "Consumer"}},
    )
    assert response.status_code == 200, response.content
    roles = {p["id"]: p["role"] for p in response.json()}
    assert roles == {ada.pk: Role.PRESENTER, alan.pk: Role.CONSUMER}
    ada.refresh_from_db()
    assert ada.role == Role.PRESENTER


def test_a_role_change_naming_someone_not_in_the_room_changes_nothing(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    ada = Participant.objects.get(room=room)
    response = api.post(
        f"/rooms/{room.pk}/participants/roles",
        {"roles": {str(ada.pk): "Presenter", "99999": "Presenter"}},
    )
    assert response.status_code == 422
    error_of(response)
    ada.refresh_from_db()
    assert ada.role == Role.ATTENDEE


def test_an_unknown_role_is_refused_with_its_field(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    ada = Participant.objects.get(room=room)
    response = api.post(f"/rooms/{room.pk}/participants/roles", {"roles": {str(ada.pk): "Boss"}})
    assert response.status_code == 422
    assert error_of(response)["field"].startswith("roles")


def test_it_removes_a_participant(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    ada = Participant.objects.get(room=room)
    assert api.delete(f"/rooms/{room.pk}/participants/{ada.pk}").status_code == 204
    assert not Participant.objects.filter(pk=ada.pk).exists()
    again = api.delete(f"/rooms/{room.pk}/participants/{ada.pk}")
    assert again.status_code == 404
    assert error_of(again)["code"] == "not_found"


def test_roles_can_name_people_by_their_identity(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    ada = Participant.objects.get(room=room)
    response = api.post(
        f"/rooms/{room.pk}/participants/roles", {"identities": {str(ada.identity_id): "Consumer"}}
    )
    assert response.status_code == 200, response.content
    ada.refresh_from_db()
    assert ada.role == Role.CONSUMER


def test_an_identity_not_in_the_room_is_named_and_nothing_changes(api, superuser):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    ada = Participant.objects.get(room=room)
    stranger = IdentityFactory()
    response = api.post(
        f"/rooms/{room.pk}/participants/roles",
        {"identities": {str(ada.identity_id): "Consumer", str(stranger.pk): "Consumer"}},
    )
    assert response.status_code == 422
    assert error_of(response)["field"] == "identities"
    ada.refresh_from_db()
    assert ada.role == Role.ATTENDEE


def test_a_role_change_naming_nobody_is_refused(api, superuser):
    room = town_hall(superuser)
    response = api.post(f"/rooms/{room.pk}/participants/roles", {})
    assert response.status_code == 422
    assert error_of(response)["field"] == "roles"


def test_creating_a_room_with_people_needs_the_permission_to_add_them(api_as, django_user_model):
    creator = django_user_model.objects.create_user(username="creator", is_staff=True)
    creator.user_permissions.set(
        Permission.objects.filter(
            codename__in=["add_room", "view_room"], content_type__app_label="rooms"
        )
    )
    person = IdentityFactory()
    api = api_as(creator)
    refused = api.post(
        "/rooms", {"title": "With people", "participants": [{"identity": person.pk}]}
    )
    assert refused.status_code == 403
    assert "rooms.add_participant" in error_of(refused)["message"]
    assert not Room.objects.exists()
    assert api.post("/rooms", {"title": "Alone"}).status_code == 201
