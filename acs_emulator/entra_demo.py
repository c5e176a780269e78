"""The demo directory of the local Entra ID: one tenant, two apps, four users, three groups.

Fixed ids, so a portal's group mapping and a developer's .env work across restarts and machines.
Nothing here is a secret: these values only ever open the local emulator.
"""

from __future__ import annotations

from typing import Any

TENANT_ID = "8f0d3c8e-5b1a-4c6e-9d2f-3a7b1c0e4d51"

# The portal's own app registration (OIDC sign-in, authorization code flow with PKCE).
PORTAL_CLIENT_ID = "5e2a8c1d-7b34-4f6a-a9d0-c1e2f3a4b5c6"
PORTAL_CLIENT_SECRET = "demo~portal-secret-for-the-emulator-only"
PORTAL_REDIRECT_URIS = [
    "http://localhost:8000/oidc/callback/",
    "http://127.0.0.1:8000/oidc/callback/",
    # Where the portal may send a browser after sign-out (Entra checks these against the same list).
    "http://localhost:8000/",
    "http://127.0.0.1:8000/",
]

# A service principal for keyless ACS (client credentials, scope https://communication.azure.com/.default).
WORKER_CLIENT_ID = "3c9b7a61-2d4e-4f80-b1a2-9e8d7c6b5a40"
WORKER_CLIENT_SECRET = "demo~acs-worker-secret-for-the-emulator-only"

GROUP_ADMINS = "1b6f0e2a-3c4d-4e5f-8a9b-0c1d2e3f4a01"
GROUP_SCHEDULERS = "1b6f0e2a-3c4d-4e5f-8a9b-0c1d2e3f4a02"
GROUP_AUDITORS = "1b6f0e2a-3c4d-4e5f-8a9b-0c1d2e3f4a03"

DOMAIN = "acsemulator.onmicrosoft.com"

APPS: list[dict[str, Any]] = [
    {
        "client_id": PORTAL_CLIENT_ID,
        "name": "ACS Rooms portal",
        "secret": PORTAL_CLIENT_SECRET,
        "redirect_uris": PORTAL_REDIRECT_URIS,
    },
    {
        "client_id": WORKER_CLIENT_ID,
        "name": "ACS Rooms portal worker",
        "secret": WORKER_CLIENT_SECRET,
        "redirect_uris": [],
    },
]

GROUPS: list[dict[str, Any]] = [
    {"id": GROUP_ADMINS, "name": "Portal admins"},
    {"id": GROUP_SCHEDULERS, "name": "Portal schedulers"},
    {"id": GROUP_AUDITORS, "name": "Portal auditors"},
]

# "roles" are app roles of the portal's registration, sent in the ID token's "roles" claim.
USERS: list[dict[str, Any]] = [
    {
        "oid": "d3a1c5e7-0001-4b2c-9d8e-7f6a5b4c3d01",
        "username": f"ada.admin@{DOMAIN}",
        "name": "Ada Admin",
        "groups": [GROUP_ADMINS],
        "roles": ["Portal.Admin"],
    },
    {
        "oid": "d3a1c5e7-0002-4b2c-9d8e-7f6a5b4c3d02",
        "username": f"sam.scheduler@{DOMAIN}",
        "name": "Sam Scheduler",
        "groups": [GROUP_SCHEDULERS],
        "roles": ["Portal.Scheduler"],
    },
    {
        "oid": "d3a1c5e7-0003-4b2c-9d8e-7f6a5b4c3d03",
        "username": f"ava.auditor@{DOMAIN}",
        "name": "Ava Auditor",
        "groups": [GROUP_AUDITORS],
        "roles": ["Portal.Auditor"],
    },
    {
        # Signs in fine but belongs to no group: the portal should let them in to nothing.
        "oid": "d3a1c5e7-0004-4b2c-9d8e-7f6a5b4c3d04",
        "username": f"nick.nobody@{DOMAIN}",
        "name": "Nick Nobody",
        "groups": [],
        "roles": [],
    },
]
