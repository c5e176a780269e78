"""Sign-in with Entra ID, as settings: read ENTRA_* from the environment, fail loudly if wrong.

Imported by config/settings.py, so it imports nothing that needs the app registry.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from portal.access import GROUP_PERMISSIONS
from portal.env import read_str

PUBLIC_CLOUD = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class EntraConfig:
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    # The v2.0 issuer, e.g. https://login.microsoftonline.com/<tenant>/v2.0: ID tokens must name
    # it as `iss`, and the endpoints hang off it the way Entra lays them out.
    authority: str = ""
    # Group object id or app role -> portal group name.
    group_map: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.client_id)

    def oidc_settings(self) -> dict:
        """mozilla-django-oidc's settings for this app registration (empty when off)."""
        if not self.enabled:
            return {}
        # The endpoints are named, not discovered, so start-up needs no network.
        base = self.authority.removesuffix("/v2.0")
        return {
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{base}/oauth2/v2.0/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{base}/oauth2/v2.0/token",
            "OIDC_OP_JWKS_ENDPOINT": f"{base}/discovery/v2.0/keys",
            # Never called: the ID token carries every claim the portal reads (portal/entra.py).
            "OIDC_OP_USER_ENDPOINT": f"{base}/oidc/userinfo",
            "OIDC_RP_SIGN_ALGO": "RS256",
            "OIDC_RP_SCOPES": "openid profile email",
            "OIDC_USE_NONCE": True,
            "OIDC_USE_PKCE": True,
            "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
            "OIDC_TIMEOUT": 15,
            "OIDC_CALLBACK_CLASS": "portal.entra.EntraCallbackView",
            "OIDC_AUTHENTICATE_CLASS": "portal.entra.EntraSignInView",
            "LOGIN_REDIRECT_URL_FAILURE": "login",
        }


def parse_group_map(text: str, name: str = "ENTRA_GROUP_MAP") -> dict[str, str]:
    """Read "<group id or app role>=<portal group>,..." into a dict; refuse unknown groups."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        claim, sep, group = (piece.strip() for piece in item.partition("="))
        if not sep or not claim or not group:
            raise ImproperlyConfigured(
                f"{name} is not valid: {item!r} should be <group id or app role>=<portal group>."
            )
        if group not in GROUP_PERMISSIONS:
            raise ImproperlyConfigured(
                f"{name} is not valid: {group!r} is not a portal group "
                f"(one of {', '.join(sorted(GROUP_PERMISSIONS))})."
            )
        if mapping.get(claim, group) != group:
            raise ImproperlyConfigured(f"{name} is not valid: {claim!r} is mapped twice.")
        mapping[claim] = group
    return mapping


def read_entra() -> EntraConfig:
    """ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET, ENTRA_AUTHORITY, ENTRA_GROUP_MAP."""
    values = {
        name: read_str(name).strip()
        for name in ("ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET")
    }
    authority = read_str("ENTRA_AUTHORITY").strip().rstrip("/")
    group_map = parse_group_map(read_str("ENTRA_GROUP_MAP"))
    if not any(values.values()):
        if authority or group_map:
            raise ImproperlyConfigured(
                "ENTRA_AUTHORITY or ENTRA_GROUP_MAP is set without ENTRA_TENANT_ID, "
                "ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET: set those too, or none of them."
            )
        return EntraConfig()
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ImproperlyConfigured(
            f"Sign-in with Entra ID needs {', '.join(missing)} as well "
            "(or none of ENTRA_TENANT_ID, ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET)."
        )
    tenant = values["ENTRA_TENANT_ID"]
    authority = authority or f"{PUBLIC_CLOUD}/{tenant}/v2.0"
    if not authority.startswith(("https://", "http://")) or not authority.endswith(
        f"/{tenant}/v2.0"
    ):
        raise ImproperlyConfigured(
            f"ENTRA_AUTHORITY={authority!r} is not valid: expected the v2.0 issuer, "
            f"https://<host>/{tenant}/v2.0."
        )
    return EntraConfig(
        tenant_id=tenant,
        client_id=values["ENTRA_CLIENT_ID"],
        client_secret=values["ENTRA_CLIENT_SECRET"],
        authority=authority,
        group_map=group_map,
    )
