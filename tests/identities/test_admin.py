"""The identities admin writes only through identities.services."""

import pytest
from django.urls import reverse

from identities.models import Identity
from portal.models import AuditEvent
from rooms.models import Role
from tests.admin_helpers import _action, _login, _room

pytestmark = pytest.mark.django_db

ROOM_ADD = reverse("admin:rooms_room_add")
ROOM_LIST = reverse("admin:rooms_room_changelist")
PARTICIPANT_LIST = reverse("admin:rooms_participant_changelist")
IDENTITY_LIST = reverse("admin:identities_identity_changelist")
EVENT_LIST = reverse("admin:portal_auditevent_changelist")


def test_adding_an_identity_in_the_admin_goes_through_the_service(client, scheduler):
    url = reverse("admin:identities_identity_add")
    data = {"display_name": "Grace Hopper", "email": "Grace@Example.com", "_save": "Save"}
    assert _login(client, scheduler).post(url, data).status_code == 302
    identity = Identity.objects.get()
    assert (identity.email, identity.created_by) == ("grace@example.com", scheduler)
    assert AuditEvent.objects.filter(action="portal.identity.created").exists()


def test_a_duplicate_email_is_refused_beside_the_field(client, scheduler):
    Identity.objects.create(display_name="Grace", email="grace@example.com")
    url = reverse("admin:identities_identity_add")
    data = {"display_name": "Other Grace", "email": "grace@example.com", "_save": "Save"}
    response = _login(client, scheduler).post(url, data)
    assert response.status_code == 200
    assert "exists already" in response.text
    assert Identity.objects.count() == 1


def test_an_existing_identity_is_shown_read_only_even_to_a_role_admin(client, role_admin):
    identity = Identity.objects.create(display_name="Grace", email="grace@example.com")
    url = reverse("admin:identities_identity_change", args=[identity.pk])
    _login(client, role_admin)
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert client.post(url, {"display_name": "Changed"}).status_code == 403


def test_deleting_an_identity_in_the_admin_goes_through_the_service(client, role_admin):
    room = _room(role_admin, people=[("Grace", "grace@example.com", Role.ATTENDEE)])
    identity = Identity.objects.get()
    url = reverse("admin:identities_identity_delete", args=[identity.pk])
    assert _login(client, role_admin).post(url, {"post": "yes"}).status_code == 302
    identity.refresh_from_db()
    assert identity.deleted_at is not None
    assert not room.participants.exists()
    assert AuditEvent.objects.filter(action="portal.identity.deleted").exists()
    # Deleted identities are listed only when asked for.
    assert list(client.get(IDENTITY_LIST).context["cl"].result_list) == []
    deleted = client.get(IDENTITY_LIST, {"status": "deleted"}).context["cl"].result_list
    assert list(deleted) == [identity]


def test_the_revoke_action_revokes_through_the_service(client, role_admin, emulator):
    identity = Identity.objects.create(display_name="Grace", email="grace@example.com")
    response = _action(_login(client, role_admin), IDENTITY_LIST, "revoke_tokens", [identity])
    assert "Revoked every access token of 1 identity" in response.text
    identity.refresh_from_db()
    assert identity.tokens_revoked_at is not None
    assert AuditEvent.objects.filter(action="portal.identity.tokens_revoked").exists()


def test_a_scheduler_is_not_offered_the_revoke_action(client, scheduler):
    Identity.objects.create(display_name="Grace", email="grace@example.com")
    assert "revoke_tokens" not in _login(client, scheduler).get(IDENTITY_LIST).text
