"""The local Entra ID's sign-in page in Chromium: pick a user, land on the app with a code."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from acs_emulator import entra_demo as demo
from acs_emulator import start_server

APP_ID = "44444444-5555-4666-8777-888888888888"


@pytest.fixture
def emulator():
    handle = start_server()
    yield handle
    handle.stop()


def test_a_person_picks_a_user_and_the_app_gets_a_code_it_can_redeem(chromium, emulator):
    base = emulator.url.rstrip("/")
    # The app's redirect URI is the emulator's own health page, so the browser lands somewhere.
    callback = f"{base}/_emulator/health"
    emulator.emulator.entra.directory.put_app(
        APP_ID, {"name": "Browser test app", "secret": "s", "redirect_uris": [callback]}
    )
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = urlencode(
        {
            "client_id": APP_ID,
            "response_type": "code",
            "redirect_uri": callback,
            "scope": "openid profile email",
            "state": "xyz",
            "nonce": "n-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    context = chromium.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        tab.goto(f"{base}/{demo.TENANT_ID}/oauth2/v2.0/authorize?{query}")
        assert tab.get_by_role("heading").inner_text() == "Pick an account"
        tab.get_by_role("button", name="Sam Scheduler").click()
        tab.wait_for_url(f"{callback}?**")
        landed = parse_qs(urlsplit(tab.url).query)
    finally:
        context.close()
    assert errors == []
    assert landed["state"] == ["xyz"]
    tokens = requests.post(
        f"{base}/{demo.TENANT_ID}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": APP_ID,
            "client_secret": "s",
            "code": landed["code"][0],
            "redirect_uri": callback,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert claims["name"] == "Sam Scheduler"
    assert claims["nonce"] == "n-1"
