"""Keyless ACS: the real SDK clients with a bearer token from the emulator's local Entra ID, against
its https server; bad tokens refused; the settings choosing DefaultAzureCredential."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from azure.communication.rooms import RoomsClient
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from cryptography.hazmat.primitives.asymmetric import rsa

import acs_gateway
from acs_emulator import entra_demo as demo
from acs_emulator import start_server
from acs_emulator.entra import ACS_RESOURCE
from acs_gateway import clients

REPO = Path(__file__).resolve().parents[2]
AZURE_VARIABLES = (
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
    "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
)  # fmt: skip


@pytest.fixture(scope="module")
def https_emulator():
    """The emulator over https with its own CA: azure-identity talks to an https authority only."""
    handle = start_server(tls=True)
    yield handle
    handle.stop()


@pytest.fixture
def as_worker(https_emulator, monkeypatch):
    """The environment DefaultAzureCredential reads, naming the demo service principal."""
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_TENANT_ID", demo.TENANT_ID)
    monkeypatch.setenv("AZURE_CLIENT_ID", demo.WORKER_CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", demo.WORKER_CLIENT_SECRET)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", https_emulator.url.rstrip("/"))
    return https_emulator


class StaticCredential:
    """A TokenCredential handing out one given token."""

    def __init__(self, token: str):
        self.token = token

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken(self.token, int(datetime.now(UTC).timestamp()) + 3600)


def a_day() -> dict:
    start = datetime.now(UTC)
    return {"valid_from": start, "valid_until": start + timedelta(days=1)}


def operations(handle) -> list[tuple[str, int]]:
    return [(r["operation"], r["status"]) for r in handle.emulator.requests()["requests"]]


def test_a_room_and_a_token_are_made_with_a_bearer_token_from_the_local_entra_id(as_worker):
    as_worker.emulator.reset()
    endpoint, ca = as_worker.url, as_worker.ca_bundle
    rooms = acs_gateway.rooms_client(endpoint=endpoint, ca_bundle=ca)
    room = rooms.create_room(**a_day())
    identities = acs_gateway.identity_client(endpoint=endpoint, ca_bundle=ca)
    user, token = identities.create_user_and_token(["voip"])
    assert rooms.get_room(room.id).id == room.id
    assert token.token.count(".") == 2
    assert user.properties["id"].startswith("8:acs:")
    assert operations(as_worker) == [
        ("Rooms_Create", 201),
        ("Identity_Create", 201),
        ("Rooms_Get", 200),
    ]


def test_a_wrong_client_secret_gets_no_token_and_reaches_no_acs_api(as_worker, monkeypatch):
    as_worker.emulator.reset()
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    rooms = acs_gateway.rooms_client(endpoint=as_worker.url, ca_bundle=as_worker.ca_bundle)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        rooms.create_room(**a_day())
    assert operations(as_worker) == []


def _signed_by_emulator(https_emulator, **changes) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "aud": ACS_RESOURCE,
        "iss": f"https://sts.windows.net/{demo.TENANT_ID}/",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": demo.TENANT_ID,
        "appid": demo.WORKER_CLIENT_ID,
        **changes,
    }
    return https_emulator.emulator.entra.sign(claims)


def _forged(https_emulator) -> str:
    """The right claims and the emulator's kid, signed with another key."""
    good = _signed_by_emulator(https_emulator)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        jwt.decode(good, options={"verify_signature": False}),
        other,
        algorithm="RS256",
        headers={"kid": jwt.get_unverified_header(good)["kid"]},
    )


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(_forged, id="forged"),
        pytest.param(
            lambda h: _signed_by_emulator(h, aud="https://management.azure.com"),
            id="wrong-audience",
        ),
        pytest.param(
            lambda h: _signed_by_emulator(h, exp=int(datetime.now(UTC).timestamp()) - 600),
            id="expired",
        ),
        pytest.param(
            lambda h: _signed_by_emulator(h, tid="00000000-0000-4000-8000-000000000000"),
            id="other-tenant",
        ),
        pytest.param(lambda h: "not-a-jwt", id="garbage"),
    ],
)
def test_a_bad_bearer_token_is_refused_with_acs_401(https_emulator, make_token):
    https_emulator.emulator.reset()
    credential = StaticCredential(make_token(https_emulator))
    rooms = RoomsClient(
        https_emulator.url.rstrip("/"),
        credential,
        connection_verify=https_emulator.ca_bundle,
        retry_total=0,
    )
    with pytest.raises(HttpResponseError) as caught:
        rooms.create_room(**a_day())
    assert caught.value.status_code == 401
    assert caught.value.error is not None
    assert caught.value.error.code == "Denied"
    assert operations(https_emulator) == [("Rooms_Create", 401)]


def test_a_token_signed_by_the_emulator_for_acs_is_accepted(https_emulator):
    """The counterpart of the refusals above: the same path with a good token passes."""
    https_emulator.emulator.reset()
    rooms = RoomsClient(
        https_emulator.url.rstrip("/"),
        StaticCredential(_signed_by_emulator(https_emulator)),
        connection_verify=https_emulator.ca_bundle,
    )
    assert rooms.create_room(**a_day()).id


# --------------------------------------------------------------------------- settings


class RecordingCredential:
    """Stands in for DefaultAzureCredential: records that it was chosen, serves no token."""

    made: list[dict] = []

    def __init__(self, **kwargs):
        RecordingCredential.made.append(kwargs)

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        raise AssertionError("no ACS call is made in this test")


@pytest.fixture
def recorded(monkeypatch) -> list[dict]:
    RecordingCredential.made = []
    monkeypatch.setattr(clients, "DefaultAzureCredential", RecordingCredential)
    return RecordingCredential.made


def test_only_an_endpoint_in_the_settings_chooses_default_azure_credential(settings, recorded):
    settings.ACS_CONNECTION_STRING = ""
    settings.ACS_ENDPOINT = "https://keyless-test.communication.azure.com"
    acs_gateway.get_gateway()
    # One for the Rooms client, one for the Identity client.
    assert len(recorded) == 2
    assert acs_gateway.configured_endpoint() == "https://keyless-test.communication.azure.com"


def test_the_gateway_goes_keyless_with_only_acs_endpoint_set(settings, as_worker):
    as_worker.emulator.reset()
    settings.ACS_CONNECTION_STRING = ""
    settings.ACS_ENDPOINT = as_worker.url.rstrip("/")
    # The portal trusts ACS_CA_BUNDLE for the Entra authority too (the emulator serves both).
    settings.ACS_CA_BUNDLE = as_worker.ca_bundle
    gateway = acs_gateway.get_gateway()
    room = gateway.create_room(**a_day())
    raw_id = gateway.create_user()
    token, _ = gateway.issue_token(raw_id, ["voip"], minutes=60)
    assert room.id and raw_id.startswith("8:acs:") and token
    assert [operation for operation, _ in operations(as_worker)] == [
        "Rooms_Create",
        "Identity_Create",
        "Identity_IssueAccessToken",
    ]


def test_a_connection_string_still_uses_the_access_key(settings, recorded, https_emulator):
    https_emulator.emulator.reset()
    settings.ACS_CONNECTION_STRING = https_emulator.connection_string
    settings.ACS_CA_BUNDLE = https_emulator.ca_bundle
    settings.ACS_ENDPOINT = ""
    room = acs_gateway.get_gateway().create_room(**a_day())
    assert room.id
    assert recorded == []
    assert operations(https_emulator) == [("Rooms_Create", 201)]


def test_keyless_credential_trusts_a_named_authority_and_the_ca_bundle(monkeypatch, recorded):
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    clients.keyless_credential()
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://127.0.0.1:8791")
    clients.keyless_credential("/tmp/ca.pem")
    assert recorded == [
        {},
        {"disable_instance_discovery": True, "connection_verify": "/tmp/ca.pem"},
    ]


def _settings_with(**environment) -> subprocess.CompletedProcess:
    code = "import config.settings as s; print(repr(s.ACS_ENDPOINT))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={
            "PATH": os.environ["PATH"],
            "PORTAL_ENV_FILE": "",
            "HOME": str(REPO),
            "DEBUG": "true",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_settings_read_acs_endpoint_without_its_trailing_slash():
    result = _settings_with(ACS_ENDPOINT="https://x.communication.azure.com/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "'https://x.communication.azure.com'"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ACS_ENDPOINT": "http://x.communication.azure.com"}, "ACS_ENDPOINT='http://x"),
        (
            {
                "ACS_ENDPOINT": "https://x.communication.azure.com",
                "ACS_CONNECTION_STRING": "endpoint=https://x.communication.azure.com/;accesskey=a2V5",
            },
            "ACS_ENDPOINT and ACS_CONNECTION_STRING are both set",
        ),
    ],
)
def test_the_settings_refuse_a_bad_acs_endpoint(environment, message):
    result = _settings_with(**environment)
    assert result.returncode != 0
    assert message in result.stderr
