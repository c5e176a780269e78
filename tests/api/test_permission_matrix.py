"""Every API operation, for every group, answers as the group's permissions say, with the
effect they allow: the pages' matrix (tests/security/test_permission_matrix.py) for the API.

A refusal is a 403 in the error shape naming the permission, and changes nothing (no audit
event, so no write). A new operation missing from OPERATIONS fails the coverage test.
"""

import pytest

from api.main import api as ninja_api
from portal.models import AuditEvent
from rooms.models import Participant, Role
from tests.api.conftest import client_for, error_of
from tests.conftest import _member_of
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import town_hall

USERS = ["outsider", "auditor", "scheduler", "role_admin", "superuser"]


def _room(w):
    return f"/rooms/{w['room'].pk}"


# (method, path pattern as documented, the permissions it needs, request builder). A room's
# people are reached through the room, which the user must be able to see.
OPERATIONS = {
    "list rooms": ("get", "/api/rooms", ["rooms.view_room"], lambda w: ("/rooms", None)),
    "create a room": (
        "post",
        "/api/rooms",
        ["rooms.add_room"],
        lambda w: ("/rooms", {"title": "Matrix"}),
    ),
    "get a room": ("get", "/api/rooms/{room_id}", ["rooms.view_room"], lambda w: (_room(w), None)),
    "update a room": (
        "patch",
        "/api/rooms/{room_id}",
        ["rooms.change_room"],
        lambda w: (_room(w), {"version": 1, "title": "Matrix 2"}),
    ),
    "delete a room": (
        "delete",
        "/api/rooms/{room_id}",
        ["rooms.delete_room"],
        lambda w: (_room(w) + "?version=1", None),
    ),
    "list participants": (
        "get",
        "/api/rooms/{room_id}/participants",
        ["rooms.view_room", "rooms.view_participant"],
        lambda w: (_room(w) + "/participants", None),
    ),
    "add an attendee": (
        "post",
        "/api/rooms/{room_id}/participants",
        ["rooms.view_room", "rooms.add_participant"],
        lambda w: (_room(w) + "/participants", {"participants": [{"identity": w["loner"].pk}]}),
    ),
    "add a presenter": (
        "post",
        "/api/rooms/{room_id}/participants",
        ["rooms.view_room", "rooms.add_participant", "rooms.change_participant"],
        lambda w: (
            _room(w) + "/participants",
            {"participants": [{"identity": w["loner"].pk, "role": "Presenter"}]},
        ),
    ),
    "change roles": (
        "post",
        "/api/rooms/{room_id}/participants/roles",
        ["rooms.view_room", "rooms.change_participant"],
        lambda w: (
            _room(w) + "/participants/roles",
            {"roles": {str(w["participant"].pk): "Presenter"}},
        ),
    ),
    "remove a participant": (
        "delete",
        "/api/rooms/{room_id}/participants/{participant_id}",
        ["rooms.view_room", "rooms.delete_participant"],
        lambda w: (f"{_room(w)}/participants/{w['participant'].pk}", None),
    ),
    "list identities": (
        "get",
        "/api/identities",
        ["identities.view_identity"],
        lambda w: ("/identities", None),
    ),
    "create an identity": (
        "post",
        "/api/identities",
        ["identities.add_identity"],
        lambda w: ("/identities", {"display_name": "Matrix Person"}),
    ),
    "get an identity": (
        "get",
        "/api/identities/{identity_id}",
        ["identities.view_identity"],
        lambda w: (f"/identities/{w['loner'].pk}", None),
    ),
    "issue a token": (
        "post",
        "/api/identities/{identity_id}/tokens",
        ["identities.issue_token"],
        lambda w: (f"/identities/{w['loner'].pk}/tokens", {"scopes": ["voip"], "minutes": 60}),
    ),
    "revoke tokens": (
        "delete",
        "/api/identities/{identity_id}/tokens",
        ["identities.revoke_tokens"],
        lambda w: (f"/identities/{w['loner'].pk}/tokens", None),
    ),
    "delete an identity": (
        "delete",
        "/api/identities/{identity_id}",
        ["identities.delete_identity"],
        lambda w: (f"/identities/{w['loner'].pk}", None),
    ),
    "read the history": (
        "get",
        "/api/history",
        ["portal.view_auditevent"],
        lambda w: ("/history", None),
    ),
}


@pytest.fixture
def outsider(db, django_user_model):
    """Staff in no group: signed in, allowed nothing."""
    return _member_of(django_user_model, "olga.outsider", None)


@pytest.fixture
def world(superuser, emulator):
    room = town_hall(superuser, people=[("Ada", "ada@example.com")])
    return {
        "room": room,
        "participant": Participant.objects.get(room=room),
        "loner": IdentityFactory(),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("user_kind", USERS)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_each_operation_answers_each_group_as_its_permissions_say(
    request, world, operation, user_kind
):
    method, _pattern, permissions, build = OPERATIONS[operation]
    user = request.getfixturevalue(user_kind)
    client = client_for(user)
    path, body = build(world)
    events = AuditEvent.objects.count()
    response = client.get(path) if method == "get" else getattr(client, method)(path, body)

    missing = [p for p in permissions if not user.has_perm(p)]
    if missing:
        assert response.status_code == 403, (response.status_code, response.content[:300])
        error = error_of(response)
        assert error["code"] == "forbidden"
        assert any(p in error["message"] for p in missing)
        assert AuditEvent.objects.count() == events
        return
    assert response.status_code in {200, 201, 204}, (response.status_code, response.content)
    if method != "get":
        assert AuditEvent.objects.count() > events
    if operation == "add a presenter":
        added = Participant.objects.get(room=world["room"], identity=world["loner"])
        assert added.role == Role.PRESENTER


def test_the_matrix_covers_every_operation_of_the_api():
    documented = {
        (method, path)
        for path, operations in ninja_api.get_openapi_schema()["paths"].items()
        for method in operations
    }
    assert documented == {(method, path) for method, path, _, _ in OPERATIONS.values()}
