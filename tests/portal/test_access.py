"""Every URL but the sign-in pages and the health check needs a signed-in user."""

import pytest
from django.contrib.auth.models import Group, Permission

from portal.access import AUDITORS, GROUP_PERMISSIONS, ROLE_ADMINS, SCHEDULERS
from tests.urls import all_urls

PUBLIC = {"/login/", "/admin/login/", "/healthz", "/favicon.ico"}
# Health probes are for load balancers and monitors (tests/ops/test_health.py): no sign-in. The
# full report is red here (no task worker runs), so it is not among the 200s below.
PUBLIC |= {"/healthz/live", "/healthz/ready"}
HEALTH_REPORT = {"/health/"}
# A personal join link is its own key (tests/joining): no sign-in; a wrong one is not found.
JOIN_LINKS = {"/join/sample/", "/join/sample/token"}
# So is a calendar feed's secret (tests/invitations/test_feeds.py).
FEEDS = {"/invitations/feed/sample.ics"}
# Sign-in with Entra ID starts and ends signed out; off (as here) it is not found
# (tests/portal/test_entra.py signs in through it).
ENTRA = {"/oidc/authenticate/", "/oidc/callback/"}
# The REST API takes a bearer token, not a sign-in: without one it answers 401 in JSON rather
# than redirecting (its token page and docs page are portal pages, and redirect). Its OpenAPI
# document is public, as every client reads it first.
API_SCHEMA = {"/api/openapi.json"}
API_ROOT = {"/api/"}
API = (
    {
        path
        for path, entry in all_urls()
        if path.startswith("/api/") and entry.name not in {"tokens", "openapi-view"}
    }
    - API_SCHEMA
    - API_ROOT
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        path
        for path, _ in all_urls()
        if path
        not in PUBLIC | JOIN_LINKS | FEEDS | ENTRA | API | API_SCHEMA | API_ROOT | HEALTH_REPORT
    ],
)
def test_it_sends_a_signed_out_visitor_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "login/?next=" in response.headers["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", sorted(PUBLIC))
def test_the_public_pages_answer_a_signed_out_visitor(client, url):
    assert client.get(url, follow=True).status_code == 200


@pytest.mark.django_db
def test_a_join_link_needs_no_sign_in_and_a_wrong_one_is_not_found(client):
    assert client.get("/join/sample/").status_code == 404
    assert client.post("/join/sample/token").status_code == 404


@pytest.mark.django_db
def test_a_calendar_feed_needs_no_sign_in_and_a_wrong_one_is_not_found(client):
    assert client.get("/invitations/feed/sample.ics").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", sorted(ENTRA))
def test_entra_sign_in_needs_no_sign_in_and_is_not_found_when_off(client, url):
    assert client.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", sorted(API))
def test_the_api_answers_a_visitor_without_a_token_401_in_json(client, url):
    response = client.get(url)
    # A path that takes only POST or DELETE refuses GET before it looks for the token.
    assert response.status_code in {401, 405}
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] in {"unauthenticated", "method_not_allowed"}


@pytest.mark.django_db
def test_the_api_root_is_a_json_404_that_points_to_the_docs(client):
    response = client.get("/api/")
    assert response.status_code == 404
    assert "/api/docs" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_the_api_schema_needs_no_sign_in(client):
    assert client.get("/api/openapi.json").json()["openapi"].startswith("3.")


def test_the_list_of_urls_covers_the_portal_and_the_admin():
    paths = {path for path, _ in all_urls()}
    assert {"/", "/logout/", "/admin/", "/admin/auth/user/"} <= paths


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(GROUP_PERMISSIONS))
def test_the_migrations_give_each_group_exactly_the_permissions_access_defines(name):
    # The migrations' frozen copies and portal.access, the one definition, must agree.
    group = Group.objects.get(name=name)
    held = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }
    assert held == set(GROUP_PERMISSIONS[name])


def test_the_groups_are_the_three_the_portal_names():
    assert set(GROUP_PERMISSIONS) == {SCHEDULERS, ROLE_ADMINS, AUDITORS}


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
