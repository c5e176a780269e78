"""Every URL but the sign-in pages and the health check needs a signed-in user."""

import pytest
from django.contrib.auth.models import Group, Permission

from tests.urls import all_urls

PUBLIC = {"/login/", "/admin/login/", "/healthz", "/favicon.ico"}


@pytest.mark.django_db
@pytest.mark.parametrize("url", [path for path, _ in all_urls() if path not in PUBLIC])
def test_it_sends_a_signed_out_visitor_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "login/?next=" in response.headers["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", sorted(PUBLIC))
def test_the_public_pages_answer_a_signed_out_visitor(client, url):
    assert client.get(url, follow=True).status_code == 200


def test_the_list_of_urls_covers_the_portal_and_the_admin():
    paths = {path for path, _ in all_urls()}
    assert {"/", "/logout/", "/admin/", "/admin/auth/user/"} <= paths


EXPECTED_GROUPS = {
    "Schedulers": {
        "rooms.view_room", "rooms.add_room", "rooms.change_room", "rooms.delete_room",
        "rooms.view_participant", "rooms.add_participant", "rooms.delete_participant",
        "identities.view_identity", "identities.add_identity", "portal.view_auditevent",
    },
    "Role admins": {
        "rooms.view_room", "rooms.add_room", "rooms.change_room", "rooms.delete_room",
        "rooms.view_participant", "rooms.add_participant", "rooms.delete_participant",
        "rooms.change_participant", "identities.view_identity", "identities.add_identity",
        "identities.change_identity", "identities.delete_identity", "identities.issue_token",
        "identities.revoke_tokens", "portal.view_auditevent",
    },
    "Auditors": {
        "rooms.view_room", "rooms.view_participant", "identities.view_identity",
        "portal.view_auditevent",
    },
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED_GROUPS))
def test_migrate_creates_each_group_with_its_permissions(name):
    group = Group.objects.get(name=name)
    held = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }
    assert held == EXPECTED_GROUPS[name]


@pytest.mark.django_db
def test_auditors_can_change_nothing():
    changing = Permission.objects.filter(group__name="Auditors").exclude(
        codename__startswith="view_"
    )
    assert list(changing) == []


@pytest.mark.django_db
def test_group_members_hold_the_permissions_of_their_group(scheduler, auditor):
    assert scheduler.has_perm("rooms.add_room")
    assert not scheduler.has_perm("rooms.change_participant")
    assert auditor.has_perm("portal.view_auditevent")
    assert not auditor.has_perm("rooms.add_room")
