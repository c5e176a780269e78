"""The local Entra ID: discovery, JWKS, the code flow with PKCE, its errors, the directory API."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from werkzeug.test import Client

from acs_emulator import entra_demo as demo
from acs_emulator.entra import ACS_RESOURCE

TENANT = demo.TENANT_ID
BASE = f"/{TENANT}"
CALLBACK = demo.PORTAL_REDIRECT_URIS[0]
ADA, SAM, AVA = (u["oid"] for u in demo.USERS[:3])
SAM_USERNAME = demo.USERS[1]["username"]


def verifier_and_challenge() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class SignInForm(HTMLParser):
    """The picker page's form: its action, hidden fields, and one button per user."""

    def __init__(self, page: str):
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.users: dict[str, str] = {}  # oid -> button text
        self._button: str | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        elif tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs["value"]
        elif tag == "button" and attrs.get("name") == "user":
            self._button = attrs["value"]
            self.users[self._button] = ""

    def handle_data(self, data):
        if self._button:
            self.users[self._button] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None


def authorize_params(challenge: str, **overrides) -> dict[str, str]:
    params = {
        "client_id": demo.PORTAL_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "openid profile email",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


@pytest.fixture
def client(emu) -> Client:
    return Client(emu)


def sign_in(client: Client, oid: str, challenge: str, **overrides) -> str:
    """Open the picker, submit the user's button, and return the code from the redirect."""
    page = client.get(f"{BASE}/oauth2/v2.0/authorize", query_string=authorize_params(challenge))
    assert page.status_code == 200
    form = SignInForm(page.get_data(as_text=True))
    answer = client.post(form.action, data={**form.fields, "user": oid, **overrides})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["state-123"]
    return query["code"][0]


def redeem(client: Client, code: str, verifier: str, **overrides):
    form = {
        "grant_type": "authorization_code",
        "client_id": demo.PORTAL_CLIENT_ID,
        "client_secret": demo.PORTAL_CLIENT_SECRET,
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    form.update(overrides)
    return client.post(
        f"{BASE}/oauth2/v2.0/token", data={k: v for k, v in form.items() if v is not None}
    )


def id_token_claims(client: Client, token: str) -> dict:
    """Verify the token with the published JWKS, as a relying party does."""
    jwks = client.get(f"{BASE}/discovery/v2.0/keys").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwks["keys"] if key["kid"] == kid]
    key = jwt.PyJWK(jwk).key
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=demo.PORTAL_CLIENT_ID,
        issuer=f"http://localhost/{TENANT}/v2.0",
        # The emulator's clock is the test's FakeClock, a little in the future of time.time().
        leeway=60,
    )


def full_sign_in(client: Client, oid: str) -> dict:
    verifier, challenge = verifier_and_challenge()
    answer = redeem(client, sign_in(client, oid, challenge), verifier)
    assert answer.status_code == 200, answer.get_json()
    return id_token_claims(client, answer.get_json()["id_token"])


# --------------------------------------------------------------------------- discovery


def test_it_publishes_an_entra_shaped_discovery_document(client):
    doc = client.get(f"{BASE}/v2.0/.well-known/openid-configuration").get_json()
    base = f"http://localhost/{TENANT}"
    assert doc["issuer"] == f"{base}/v2.0"
    assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert doc["end_session_endpoint"] == f"{base}/oauth2/v2.0/logout"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"groups", "roles", "oid", "tid", "nonce"} <= set(doc["claims_supported"])


def test_the_tenant_domain_names_the_same_tenant_and_others_are_not_found(client):
    by_domain = client.get(f"/{demo.DOMAIN}/v2.0/.well-known/openid-configuration").get_json()
    assert by_domain["issuer"].endswith(f"/{TENANT}/v2.0")
    unknown = client.get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400
    assert unknown.get_json()["error_codes"] == [90002]


def test_the_signing_key_is_kept_with_the_state(tmp_path):
    from acs_emulator import Emulator

    state = str(tmp_path / "state.sqlite3")
    first = Emulator(state_path=state)
    keys = Client(first).get(f"{BASE}/discovery/v2.0/keys").get_json()
    first.close()
    second = Emulator(state_path=state)
    try:
        assert Client(second).get(f"{BASE}/discovery/v2.0/keys").get_json() == keys
    finally:
        second.close()


# --------------------------------------------------------------------------- the code flow


def test_a_picked_user_gets_an_id_token_with_entra_claims(client):
    claims = full_sign_in(client, ADA)
    assert claims["preferred_username"] == f"ada.admin@{demo.DOMAIN}"
    assert claims["name"] == "Ada Admin"
    assert claims["email"] == f"ada.admin@{demo.DOMAIN}"
    assert claims["oid"] == ADA
    assert claims["tid"] == TENANT
    assert claims["ver"] == "2.0"
    assert claims["nonce"] == "nonce-456"
    assert claims["groups"] == [demo.GROUP_ADMINS]
    assert claims["roles"] == ["Portal.Admin"]
    assert claims["exp"] > claims["iat"] == claims["nbf"]
    assert claims["sub"] and claims["sub"] != ADA  # pairwise, as Entra's


def test_the_picker_lists_every_user_and_escapes_their_names(client):
    client.put(
        "/_emulator/entra/users/0e0e0e0e-0000-4000-8000-000000000001",
        json={"username": "eve@example.com", "name": "<script>alert(1)</script>"},
    )
    _, challenge = verifier_and_challenge()
    page = client.get(f"{BASE}/oauth2/v2.0/authorize", query_string=authorize_params(challenge))
    text = page.get_data(as_text=True)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert set(SignInForm(text).users) == {u["oid"] for u in demo.USERS} | {
        "0e0e0e0e-0000-4000-8000-000000000001"
    }


def test_the_token_endpoint_takes_the_secret_by_basic_auth_too(client):
    verifier, challenge = verifier_and_challenge()
    code = sign_in(client, SAM, challenge)
    basic = base64.b64encode(f"{demo.PORTAL_CLIENT_ID}:{demo.PORTAL_CLIENT_SECRET}".encode())
    answer = client.post(
        f"{BASE}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        headers={"Authorization": "Basic " + basic.decode()},
    )
    assert answer.status_code == 200, answer.get_json()
    assert id_token_claims(client, answer.get_json()["id_token"])["roles"] == ["Portal.Scheduler"]


def test_the_full_code_flow_works_over_a_socket(server):
    base = server.url.rstrip("/")
    session = requests.Session()
    verifier, challenge = verifier_and_challenge()
    page = session.get(
        f"{base}{BASE}/oauth2/v2.0/authorize", params=authorize_params(challenge), timeout=10
    )
    form = SignInForm(page.text)
    answer = session.post(
        base + form.action, data={**form.fields, "user": AVA}, allow_redirects=False, timeout=10
    )
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = session.post(
        f"{base}{BASE}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": demo.PORTAL_CLIENT_ID,
            "client_secret": demo.PORTAL_CLIENT_SECRET,
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert tokens.headers["Cache-Control"].startswith("no-store")
    doc = session.get(f"{base}{BASE}/v2.0/.well-known/openid-configuration", timeout=10).json()
    keys = jwt.PyJWKClient(doc["jwks_uri"]).get_signing_key_from_jwt(tokens.json()["id_token"])
    claims = jwt.decode(
        tokens.json()["id_token"],
        keys.key,
        algorithms=["RS256"],
        audience=demo.PORTAL_CLIENT_ID,
        issuer=doc["issuer"],
    )
    assert claims["groups"] == [demo.GROUP_AUDITORS]
    userinfo = session.get(
        doc["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + tokens.json()["access_token"]},
        timeout=10,
    )
    assert userinfo.json()["email"] == f"ava.auditor@{demo.DOMAIN}"


# --------------------------------------------------------------------------- OAuth errors


def test_a_wrong_code_verifier_is_refused(client):
    _, challenge = verifier_and_challenge()
    code = sign_in(client, ADA, challenge)
    answer = redeem(client, code, secrets.token_urlsafe(48))
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "invalid_grant"
    assert body["error_codes"] == [501481]
    assert body["error_description"].startswith("AADSTS501481: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


def test_a_code_redeems_once_only(client):
    verifier, challenge = verifier_and_challenge()
    code = sign_in(client, ADA, challenge)
    assert redeem(client, code, verifier).status_code == 200
    again = redeem(client, code, verifier)
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_grant"
    assert again.get_json()["error_codes"] == [54005]


def test_a_code_expires_after_ten_minutes(client, clock):
    verifier, challenge = verifier_and_challenge()
    code = sign_in(client, ADA, challenge)
    clock.advance(minutes=10, seconds=1)
    answer = redeem(client, code, verifier)
    assert answer.get_json()["error_codes"] == [70008]


def test_a_code_redeemed_with_another_redirect_uri_is_refused(client):
    verifier, challenge = verifier_and_challenge()
    code = sign_in(client, ADA, challenge)
    answer = redeem(client, code, verifier, redirect_uri=demo.PORTAL_REDIRECT_URIS[1])
    assert answer.get_json()["error"] == "invalid_grant"
    assert answer.get_json()["error_codes"] == [500112]
    # The refused attempt did not use the code up.
    assert redeem(client, code, verifier).status_code == 200


def test_a_wrong_client_secret_is_refused(client):
    verifier, challenge = verifier_and_challenge()
    code = sign_in(client, ADA, challenge)
    answer = redeem(client, code, verifier, client_secret="not-the-secret")
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_client"
    assert answer.get_json()["error_codes"] == [7000215]


def test_an_unknown_client_is_refused_on_the_token_endpoint(client):
    answer = redeem(client, "any", "any", client_id="11111111-2222-4333-8444-555555555555")
    assert answer.get_json()["error"] == "unauthorized_client"
    assert answer.get_json()["error_codes"] == [700016]


def test_an_unknown_client_gets_an_error_page_not_a_redirect(client):
    _, challenge = verifier_and_challenge()
    page = client.get(
        f"{BASE}/oauth2/v2.0/authorize",
        query_string=authorize_params(challenge, client_id="11111111-2222-4333-8444-555555555555"),
    )
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "AADSTS700016" in page.get_data(as_text=True)


def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(client):
    _, challenge = verifier_and_challenge()
    page = client.get(
        f"{BASE}/oauth2/v2.0/authorize",
        query_string=authorize_params(challenge, redirect_uri="https://evil.example/cb"),
    )
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "AADSTS50011" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"code_challenge": None}, "invalid_request", "AADSTS900144"),
        ({"code_challenge_method": "plain"}, "invalid_request", "AADSTS9002313"),
        ({"code_challenge_method": None}, "invalid_request", "AADSTS9002313"),
        ({"response_type": "token"}, "unsupported_response_type", "AADSTS70005"),
        ({"response_mode": "fragment"}, "invalid_request", "AADSTS9002313"),
        ({"prompt": "none"}, "login_required", "AADSTS50058"),
    ],
)
def test_a_bad_authorize_request_is_sent_back_to_the_app(client, overrides, error, code):
    _, challenge = verifier_and_challenge()
    answer = client.get(
        f"{BASE}/oauth2/v2.0/authorize", query_string=authorize_params(challenge, **overrides)
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == [error]
    assert query["error_description"][0].startswith(code + ":")
    assert query["state"] == ["state-123"]


# --------------------------------------------------------------------------- the directory


def test_removing_a_user_from_a_group_changes_the_next_id_token(client):
    assert full_sign_in(client, ADA)["groups"] == [demo.GROUP_ADMINS]
    removed = client.delete(f"/_emulator/entra/groups/{demo.GROUP_ADMINS}/members/{ADA}")
    assert removed.status_code == 200
    assert ADA not in removed.get_json()["members"]
    assert full_sign_in(client, ADA)["groups"] == []
    client.put(f"/_emulator/entra/users/{ADA}/groups", json={"groups": [demo.GROUP_AUDITORS]})
    client.put(f"/_emulator/entra/users/{ADA}/roles", json={"roles": ["Portal.Auditor"]})
    claims = full_sign_in(client, ADA)
    assert claims["groups"] == [demo.GROUP_AUDITORS]
    assert claims["roles"] == ["Portal.Auditor"]


def test_reset_brings_back_the_demo_directory(client):
    client.delete(f"/_emulator/entra/users/{SAM}")
    assert client.get(f"/_emulator/entra/users/{SAM}").status_code == 404
    client.post("/_emulator/entra/reset")
    assert client.get(f"/_emulator/entra/users/{SAM}").get_json()["groups"] == [
        demo.GROUP_SCHEDULERS
    ]


def test_a_new_user_can_sign_in_with_the_groups_it_was_given(client):
    created = client.post(
        "/_emulator/entra/users",
        json={"username": "zoe@example.com", "name": "Zoe", "groups": [demo.GROUP_SCHEDULERS]},
    )
    assert created.status_code == 201
    claims = full_sign_in(client, created.get_json()["oid"])
    assert claims["groups"] == [demo.GROUP_SCHEDULERS]
    assert "roles" not in claims


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("PUT", f"users/{ADA}/groups", {"groups": ["nope"]}, 400, "must be a GUID"),
        (
            "PUT",
            f"users/{ADA}/groups",
            {"groups": ["99999999-9999-4999-8999-999999999999"]},
            400,
            "No such group",
        ),
        ("PUT", f"users/{ADA}", {"name": "No username"}, 400, "username is required"),
        ("PUT", f"users/{ADA}", {"username": SAM_USERNAME, "name": "X"}, 400, "Another"),
        ("DELETE", f"groups/{demo.GROUP_AUDITORS}/members/{ADA}", None, 404, "not a member"),
        ("PUT", f"apps/{demo.PORTAL_CLIENT_ID}", {"name": "x", "secret": "s",
                                                  "redirect_uris": ["ftp://x"]}, 400, "http(s)"),
        ("GET", "users/00000000-0000-4000-8000-000000000000", None, 404, "No user"),
        ("GET", "nothing-here", None, 404, "No control endpoint"),
    ],
)  # fmt: skip
def test_the_directory_api_refuses_bad_changes_and_changes_nothing(
    client, method, path, body, status, message
):
    before = client.get("/_emulator/entra").get_json()
    answer = client.open(f"/_emulator/entra/{path}", method=method, json=body)
    assert answer.status_code == status
    assert message in answer.get_json()["error"]["message"]
    assert client.get("/_emulator/entra").get_json() == before


def test_the_directory_api_refuses_a_body_that_is_not_a_json_object(client):
    for body in (b"{not json", b"[1, 2]"):
        answer = client.put(
            f"/_emulator/entra/users/{ADA}/groups", data=body, content_type="application/json"
        )
        assert answer.status_code == 400
        assert answer.get_json()["error"]["message"] == "The body must be a JSON object."
    assert client.get(f"/_emulator/entra/users/{ADA}").get_json()["groups"] == [demo.GROUP_ADMINS]


def test_a_registered_app_can_sign_users_in_at_its_redirect_uri(client):
    client_id = "22222222-3333-4444-8555-666666666666"
    client.put(
        f"/_emulator/entra/apps/{client_id}",
        json={"name": "Other", "secret": "s3cret", "redirect_uris": ["https://app.test/cb"]},
    )
    verifier, challenge = verifier_and_challenge()
    page = client.get(
        f"{BASE}/oauth2/v2.0/authorize",
        query_string=authorize_params(
            challenge, client_id=client_id, redirect_uri="https://app.test/cb"
        ),
    )
    form = SignInForm(page.get_data(as_text=True))
    location = client.post(form.action, data={**form.fields, "user": SAM}).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    tokens = redeem(
        client,
        code,
        verifier,
        client_id=client_id,
        client_secret="s3cret",
        redirect_uri="https://app.test/cb",
    ).get_json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["aud"] == client_id


# --------------------------------------------------------------------------- logout


def test_logout_redirects_to_a_registered_uri_only(client):
    target = demo.PORTAL_REDIRECT_URIS[2]
    answer = client.get(
        f"{BASE}/oauth2/v2.0/logout",
        query_string={
            "client_id": demo.PORTAL_CLIENT_ID,
            "post_logout_redirect_uri": target,
            "state": "s",
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == target + "?state=s"
    elsewhere = client.get(
        f"{BASE}/oauth2/v2.0/logout",
        query_string={
            "client_id": demo.PORTAL_CLIENT_ID,
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert elsewhere.status_code == 200
    assert "Location" not in elsewhere.headers


def test_logout_finds_the_app_from_the_id_token_hint(client):
    verifier, challenge = verifier_and_challenge()
    id_token = redeem(client, sign_in(client, ADA, challenge), verifier).get_json()["id_token"]
    answer = client.get(
        f"{BASE}/oauth2/v2.0/logout",
        query_string={"id_token_hint": id_token, "post_logout_redirect_uri": CALLBACK},
    )
    assert answer.headers["Location"] == CALLBACK


# --------------------------------------------------------------------------- client credentials


def client_credentials(client: Client, scope: str, secret: str = demo.WORKER_CLIENT_SECRET):
    return client.post(
        f"{BASE}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": demo.WORKER_CLIENT_ID,
            "client_secret": secret,
            "scope": scope,
        },
    )


@pytest.mark.parametrize(
    "scope",
    ["https://communication.azure.com/.default", "https://communication.azure.com//.default"],
)
def test_a_service_principal_gets_an_access_token_for_acs(client, scope):
    answer = client_credentials(client, scope)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 3000
    claims = jwt.decode(
        body["access_token"],
        jwt.PyJWKSet.from_dict(client.get(f"{BASE}/discovery/v2.0/keys").get_json()).keys[0].key,
        algorithms=["RS256"],
        audience=ACS_RESOURCE,
        leeway=60,
    )
    assert claims["appid"] == demo.WORKER_CLIENT_ID
    assert claims["tid"] == TENANT
    assert claims["idtyp"] == "app"


@pytest.mark.parametrize(
    ("scope", "secret", "error", "code"),
    [
        ("https://communication.azure.com/.default", "wrong", "invalid_client", 7000215),
        ("openid", demo.WORKER_CLIENT_SECRET, "invalid_scope", 1002012),
        ("https://vault.azure.net/.default", demo.WORKER_CLIENT_SECRET, "invalid_resource", 500011),
    ],
)
def test_client_credentials_errors(client, scope, secret, error, code):
    body = client_credentials(client, scope, secret).get_json()
    assert body["error"] == error
    assert body["error_codes"] == [code]


def test_an_unknown_grant_type_is_refused(client):
    body = client.post(
        f"{BASE}/oauth2/v2.0/token", data={"grant_type": "password", "client_id": "x"}
    ).get_json()
    assert body["error"] == "unsupported_grant_type"
