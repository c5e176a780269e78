"""Sign-in with Entra ID against the emulator's local Entra ID, served on a free port."""

import os
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from axes.models import AccessAttempt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.exceptions import ImproperlyConfigured

from acs_emulator import entra_demo as demo
from acs_emulator import start_server
from portal.access import AUDITORS, ROLE_ADMINS, SCHEDULERS
from portal.entra import EntraBackend, EntraRefusal, groups_from_claims
from portal.entra_settings import parse_group_map, read_entra
from portal.login import PASSWORD_SIGN_IN_OFF
from portal.models import AuditEvent, EntraAccount
from tests.conftest import PASSWORD
from tests.portal.entra_setup import (
    ADA,
    NICK,
    SAM,
    SAM_USERNAME,
    pick_user,
    sign_in_with_entra,
    use_entra,
)


@pytest.fixture
def entra_server():
    handle = start_server()
    yield handle
    handle.stop()


@pytest.fixture
def entra(entra_server, settings):
    return use_entra(settings, entra_server, "http://testserver")


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# -- the mapping


def test_it_maps_group_ids_and_app_roles_to_portal_groups():
    mapping = {demo.GROUP_SCHEDULERS: SCHEDULERS, "Portal.Auditor": AUDITORS}
    claims = {"groups": [demo.GROUP_SCHEDULERS, "unmapped-group"], "roles": ["Portal.Auditor"]}
    assert groups_from_claims(claims, mapping) == {SCHEDULERS, AUDITORS}
    assert groups_from_claims({"groups": []}, mapping) == set()


def test_it_reads_the_group_map_setting():
    text = f" {demo.GROUP_ADMINS} = {ROLE_ADMINS} , Portal.Auditor={AUDITORS},"
    assert parse_group_map(text) == {demo.GROUP_ADMINS: ROLE_ADMINS, "Portal.Auditor": AUDITORS}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("abc=Superusers", "'Superusers' is not a portal group"),
        ("abc", "should be <group id or app role>=<portal group>"),
        (f"abc={SCHEDULERS},abc={AUDITORS}", "'abc' is mapped twice"),
    ],
)
def test_it_refuses_a_bad_group_map(text, says):
    with pytest.raises(ImproperlyConfigured, match=says):
        parse_group_map(text)


def test_a_partial_entra_configuration_stops_start_up(monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_ID", demo.PORTAL_CLIENT_ID)
    with pytest.raises(ImproperlyConfigured, match="ENTRA_TENANT_ID, ENTRA_CLIENT_SECRET"):
        read_entra()


def test_the_authority_defaults_to_the_public_cloud_and_names_the_endpoints(monkeypatch):
    monkeypatch.setenv("ENTRA_TENANT_ID", demo.TENANT_ID)
    monkeypatch.setenv("ENTRA_CLIENT_ID", demo.PORTAL_CLIENT_ID)
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "s")
    config = read_entra()
    assert config.authority == f"https://login.microsoftonline.com/{demo.TENANT_ID}/v2.0"
    oidc = config.oidc_settings()
    assert oidc["OIDC_OP_TOKEN_ENDPOINT"] == (
        f"https://login.microsoftonline.com/{demo.TENANT_ID}/oauth2/v2.0/token"
    )
    assert oidc["OIDC_USE_PKCE"] is True
    monkeypatch.setenv("ENTRA_AUTHORITY", "https://login.example.com/another-tenant/v2.0")
    with pytest.raises(ImproperlyConfigured, match="ENTRA_AUTHORITY="):
        read_entra()


# -- the flow


@pytest.mark.django_db
def test_the_sign_in_sends_pkce_s256_and_a_nonce(client, entra):
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert start["Location"].startswith(entra.authority.removesuffix("/v2.0") + "/oauth2/")
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0] and query["nonce"][0] and query["state"][0]
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]


@pytest.mark.django_db
def test_a_first_sign_in_creates_the_user_with_the_mapped_group(client, entra):
    response = sign_in_with_entra(client, SAM)
    assert response.status_code == 302
    assert response["Location"] == "/"
    account = EntraAccount.objects.select_related("user").get()
    assert (account.tenant_id, account.object_id) == (demo.TENANT_ID, SAM)
    user = account.user
    assert user.username == SAM_USERNAME
    assert (user.first_name, user.last_name, user.email) == ("Sam", "Scheduler", SAM_USERNAME)
    assert set(user.groups.values_list("name", flat=True)) == {SCHEDULERS}
    assert user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert client.get("/").wsgi_request.user == user
    assert set(
        AuditEvent.objects.filter(target_id=str(user.pk)).values_list("action", flat=True)
    ) == {
        "portal.user.created_from_entra",
        "portal.user.groups_changed_by_entra",
        "portal.user.signed_in_with_entra",
    }
    history = client.get("/history/")
    assert history.status_code == 200
    assert "signed in with entra" in history.content.decode().lower()


@pytest.mark.django_db
def test_it_goes_back_to_the_page_asked_for(client, entra):
    response = sign_in_with_entra(client, SAM, next_url="/history/")
    assert response["Location"] == "/history/"


@pytest.mark.django_db
def test_the_groups_are_applied_again_at_every_sign_in(client, entra, entra_server):
    sign_in_with_entra(client, SAM)
    user = EntraAccount.objects.get(object_id=SAM).user
    # A group outside the mapping is the administrators' business: it stays.
    helpdesk = Group.objects.create(name="Helpdesk")
    user.groups.add(helpdesk)
    client.logout()

    entra_server.emulator.entra.directory.remove_member(demo.GROUP_SCHEDULERS, SAM)
    sign_in_with_entra(client, SAM)

    user.refresh_from_db()
    assert set(user.groups.values_list("name", flat=True)) == {"Helpdesk"}
    assert not user.is_staff
    assert EntraAccount.objects.count() == 1
    change = AuditEvent.objects.filter(action="portal.user.groups_changed_by_entra").latest("pk")
    assert change.changes["groups"] == [["Helpdesk", SCHEDULERS], ["Helpdesk"]]


@pytest.mark.django_db
def test_an_app_role_maps_too_and_superuser_is_never_granted(client, settings, entra_server):
    use_entra(settings, entra_server, "http://testserver", group_map={"Portal.Admin": ROLE_ADMINS})
    sign_in_with_entra(client, ADA)
    user = EntraAccount.objects.get(object_id=ADA).user
    assert set(user.groups.values_list("name", flat=True)) == {ROLE_ADMINS}
    assert user.is_staff and not user.is_superuser


@pytest.mark.django_db
def test_a_user_in_no_mapped_group_signs_in_without_permissions(client, entra):
    sign_in_with_entra(client, NICK)
    user = EntraAccount.objects.get(object_id=NICK).user
    assert not user.groups.exists() and not user.is_staff
    assert "You may not view rooms" in client.get("/").content.decode()


@pytest.mark.django_db
def test_it_never_takes_over_a_portal_account_with_the_same_name(client, entra, django_user_model):
    local = django_user_model.objects.create_user(username=SAM_USERNAME, email=SAM_USERNAME)
    response = sign_in_with_entra(client, SAM)
    assert response["Location"] == "/login/"
    assert "already exists and is not linked to this Entra ID user" in _messages(response)[0]
    assert not EntraAccount.objects.exists()
    assert not local.groups.exists()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_same_email_is_another_user(client, entra, django_user_model):
    local = django_user_model.objects.create_user(username="sam", email=SAM_USERNAME)
    sign_in_with_entra(client, SAM)
    assert EntraAccount.objects.get().user != local


@pytest.mark.django_db
def test_an_error_from_entra_is_shown_on_the_login_page(client, entra):
    start = client.get("/oidc/authenticate/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get(
        "/oidc/callback/",
        {
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined.",
            "state": state,
        },
    )
    assert response["Location"] == "/login/"
    assert "Entra ID refused the sign-in (access_denied: AADSTS65004" in _messages(response)[0]


@pytest.mark.django_db
def test_a_callback_this_session_did_not_start_is_refused(client, entra):
    start = client.get("/oidc/authenticate/")
    callback = pick_user(start["Location"], SAM)
    other = client.__class__()
    response = other.get(callback)
    assert response["Location"] == "/login/"
    assert "was not started here" in _messages(response)[0]
    # And the right browser cannot use it twice.
    assert client.get(callback)["Location"] == "/"
    client.logout()
    assert client.get(callback)["Location"] == "/login/"
    assert not EntraAccount.objects.filter(user__last_login__isnull=True).exists()


@pytest.mark.django_db
def test_a_wrong_client_secret_is_a_clear_refusal(client, entra, settings):
    settings.OIDC_RP_CLIENT_SECRET = "wrong"
    response = sign_in_with_entra(client, SAM)
    assert response["Location"] == "/login/"
    assert "did not redeem the sign-in code (invalid_client" in _messages(response)[0]
    assert not EntraAccount.objects.exists()


# -- the ID token's checks


def _claims(config, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": config.authority,
        "aud": config.client_id,
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "nonce": "the-nonce",
        "oid": SAM,
        "tid": demo.TENANT_ID,
        "preferred_username": SAM_USERNAME,
        "name": "Sam Scheduler",
        "groups": [demo.GROUP_SCHEDULERS],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


@pytest.mark.django_db
def test_a_good_token_passes(entra, entra_server):
    token = entra_server.emulator.entra.sign(_claims(entra))
    assert EntraBackend().verify_token(token, nonce="the-nonce")["oid"] == SAM


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"aud": "another-app"}, "Audience doesn't match"),
        ({"iss": "https://login.microsoftonline.com/other/v2.0"}, "Invalid issuer"),
        ({"exp": int(time.time()) - 3600}, "Signature has expired"),
        ({"nonce": "another-nonce"}, "Nonce verification failed"),
        ({"tid": "0b0b0b0b-0000-4000-8000-000000000000"}, "is not this one"),
        ({"oid": None}, 'missing the "oid" claim'),
    ],
)
def test_a_bad_token_is_refused(entra, entra_server, changes, says):
    token = entra_server.emulator.entra.sign(_claims(entra, **changes))
    with pytest.raises(EntraRefusal, match=says):
        EntraBackend().verify_token(token, nonce="the-nonce")


@pytest.mark.django_db
def test_a_token_without_the_group_list_is_refused_rather_than_taking_groups_away(entra):
    claims = _claims(entra, groups=None, _claim_names={"groups": "src1"})
    with pytest.raises(EntraRefusal, match="no list of groups"):
        EntraBackend().verify_claims(claims)


@pytest.mark.django_db
def test_a_token_signed_by_another_key_is_refused(entra, entra_server):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = entra_server.emulator.entra.kid()
    token = jwt.encode(_claims(entra), forger, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(EntraRefusal, match="Signature verification failed"):
        EntraBackend().verify_token(token, nonce="the-nonce")


# -- the login page and password sign-in


@pytest.mark.django_db
def test_the_login_page_offers_entra_only_when_configured(client, settings, entra_server):
    assert "Sign in with Microsoft Entra ID" not in client.get("/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/").status_code == 404
    assert "Sign in with Microsoft Entra ID" not in client.get("/admin/login/").content.decode()
    use_entra(settings, entra_server, "http://testserver")
    page = client.get("/login/?next=/history/").content.decode()
    assert 'href="/oidc/authenticate/?next=/history/"' in page
    admin_page = client.get("/admin/login/?next=/admin/rooms/").content.decode()
    assert 'href="/oidc/authenticate/?next=/admin/rooms/"' in admin_page


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_with_password_sign_in_off_only_a_superuser_may_use_a_password(
    client, settings, entra_server, scheduler, superuser, url
):
    use_entra(settings, entra_server, "http://testserver", password_sign_in=False)
    refused = client.post(url, {"username": scheduler.username, "password": PASSWORD})
    assert refused.status_code == 200
    assert PASSWORD_SIGN_IN_OFF in refused.content.decode().replace("&#x27;", "'")
    assert "_auth_user_id" not in client.session
    accepted = client.post(url, {"username": superuser.username, "password": PASSWORD})
    assert accepted.status_code == 302
    assert client.session["_auth_user_id"] == str(superuser.pk)


@pytest.mark.django_db
def test_with_password_sign_in_on_staff_may_use_a_password(client, settings, entra, scheduler):
    response = client.post("/login/", {"username": scheduler.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(scheduler.pk)


def test_password_sign_in_off_without_entra_stops_start_up():
    completed = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env={**os.environ, "PASSWORD_SIGN_IN": "false", "PORTAL_ENV_FILE": "", "DEBUG": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "PASSWORD_SIGN_IN=false needs sign-in with Entra ID" in completed.stderr


@pytest.mark.django_db
def test_failed_entra_sign_ins_lock_nobody_out(client, settings, entra):
    settings.OIDC_RP_CLIENT_SECRET = "wrong"
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert sign_in_with_entra(client, SAM)["Location"] == "/login/"
    settings.OIDC_RP_CLIENT_SECRET = demo.PORTAL_CLIENT_SECRET
    assert sign_in_with_entra(client, SAM)["Location"] == "/"
    assert not AccessAttempt.objects.exists()
