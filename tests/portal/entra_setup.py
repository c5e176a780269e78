"""Point the portal's Entra ID sign-in at a served emulator's local Entra ID (for tests)."""

from urllib.parse import urlsplit

import requests

from acs_emulator import entra_demo as demo
from portal.access import AUDITORS, ROLE_ADMINS, SCHEDULERS
from portal.entra_settings import EntraConfig

ADA = "d3a1c5e7-0001-4b2c-9d8e-7f6a5b4c3d01"
SAM = "d3a1c5e7-0002-4b2c-9d8e-7f6a5b4c3d02"
AVA = "d3a1c5e7-0003-4b2c-9d8e-7f6a5b4c3d03"
NICK = "d3a1c5e7-0004-4b2c-9d8e-7f6a5b4c3d04"
SAM_USERNAME = f"sam.scheduler@{demo.DOMAIN}"

GROUP_MAP = {
    demo.GROUP_ADMINS: ROLE_ADMINS,
    demo.GROUP_SCHEDULERS: SCHEDULERS,
    demo.GROUP_AUDITORS: AUDITORS,
}


def use_entra(settings, handle, portal_url: str, *, password_sign_in: bool = True, group_map=None):
    """Configure sign-in with the emulator's Entra ID; register the portal's redirect URI there."""
    base = handle.url.rstrip("/")
    config = EntraConfig(
        tenant_id=demo.TENANT_ID,
        client_id=demo.PORTAL_CLIENT_ID,
        client_secret=demo.PORTAL_CLIENT_SECRET,
        authority=f"{base}/{demo.TENANT_ID}/v2.0",
        group_map=GROUP_MAP if group_map is None else group_map,
    )
    settings.ENTRA = config
    settings.ENTRA_SIGN_IN = True
    settings.PASSWORD_SIGN_IN = password_sign_in
    for name, value in config.oidc_settings().items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "portal.entra.EntraBackend",
    ]
    handle.emulator.entra.directory.put_app(
        demo.PORTAL_CLIENT_ID,
        {
            "name": "Rooms portal",
            "secret": demo.PORTAL_CLIENT_SECRET,
            "redirect_uris": [f"{portal_url.rstrip('/')}/oidc/callback/"],
        },
    )
    return config


def pick_user(authorize_url: str, oid: str) -> str:
    """Press the user's button on the local Entra ID's page; the callback path and query."""
    picked = requests.post(authorize_url, data={"user": oid}, allow_redirects=False, timeout=10)
    assert picked.status_code in (302, 303), picked.text
    callback = urlsplit(picked.headers["Location"])
    return f"{callback.path}?{callback.query}"


def sign_in_with_entra(client, oid: str, next_url: str = ""):
    """The test client through the whole code flow as the given Entra user."""
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start
    return client.get(pick_user(start["Location"], oid))
