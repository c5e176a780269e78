"""A local Microsoft Entra ID (v2.0 endpoints): OIDC sign-in for the portal, tokens for keyless ACS.

It serves, under /{tenant}/: the discovery document, the JWKS, the authorization code flow (PKCE
S256 required) with a plain user-picker page instead of a password, the token endpoint
(authorization_code and client_credentials), userinfo and logout. The directory (users, groups,
app registrations) lives in the emulator's SQLite store and is changed through the control API
under /_emulator/entra/. Errors have Entra's shapes: the OAuth2 JSON with AADSTS codes on the
token endpoint, error redirects (or an error page when redirecting is unsafe) on authorize.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from . import auth, entra_demo
from .entra_directory import Directory
from .messages import Request
from .store import Store
from .tokens import stored_rsa_key

TENANT_ID = entra_demo.TENANT_ID
# Audience of the tokens ACS accepts, and the resource a client credentials scope names.
ACS_RESOURCE = "https://communication.azure.com"
# Microsoft Graph's app id: Entra gives an "openid profile email" sign-in an access token for it.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
TOKEN_LIFETIME = timedelta(hours=1)
CODE_LIFETIME = timedelta(minutes=10)

_ENDPOINTS = re.compile(
    r"^/(?P<tenant>[^/_][^/]*)/(?P<endpoint>v2\.0/\.well-known/openid-configuration"
    r"|discovery/v2\.0/keys|oauth2/v2\.0/authorize|oauth2/v2\.0/token|oauth2/v2\.0/logout"
    r"|oidc/userinfo)/?$"
)


# --------------------------------------------------------------------------- replies


@dataclass
class Reply:
    """A complete HTTP answer of the Entra endpoints (JSON, HTML or a redirect)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, start_response: Callable, reason: str) -> list[bytes]:
        headers = [*self.headers.items(), ("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {reason}", headers)
        return [self.body]


def json_reply(status: int, data: Any) -> Reply:
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return Reply(status, body, {"Content-Type": "application/json; charset=utf-8"})


def _no_store(reply: Reply) -> Reply:
    # Token answers must not be cached (RFC 6749 5.1), as Entra sends them.
    reply.headers.update({"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
    return reply


def html_reply(status: int, title: str, body_html: str) -> Reply:
    page = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body_html}\n</body></html>\n"
    )
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        # The page is static: no script, nothing framed, nothing cached.
        "Content-Security-Policy": "default-src 'none'; form-action *; frame-ancestors 'none'",
        "Cache-Control": "no-store",
    }
    return Reply(status, page.encode("utf-8"), headers)


def redirect(location: str) -> Reply:
    return Reply(302, b"", {"Location": location, "Cache-Control": "no-store"})


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


class OAuthError(Exception):
    """An Entra error: the OAuth2 error code, the AADSTS number and its message."""

    def __init__(self, error: str, aadsts: int, message: str, status: int = 400):
        super().__init__(f"AADSTS{aadsts}: {message}")
        self.error = error
        self.aadsts = aadsts
        self.description = f"AADSTS{aadsts}: {message}"
        self.status = status

    def reply(self, now: datetime) -> Reply:
        trace = str(uuid.uuid4())
        return _no_store(
            json_reply(
                self.status,
                {
                    "error": self.error,
                    "error_description": f"{self.description} Trace ID: {trace} "
                    f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
                    "error_codes": [self.aadsts],
                    "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
                    "trace_id": trace,
                    "correlation_id": str(uuid.uuid4()),
                    "error_uri": f"https://login.microsoftonline.com/error?code={self.aadsts}",
                },
            )
        )


def _missing(name: str) -> OAuthError:
    return OAuthError(
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


# --------------------------------------------------------------------------- helpers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _form(req: Request) -> dict[str, str]:
    return dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))


def _resource_of(scope: str) -> str | None:
    """'https://communication.azure.com//.default' -> 'https://communication.azure.com'."""
    if not scope.endswith("/.default"):
        return None
    return scope[: -len("/.default")].rstrip("/")


# --------------------------------------------------------------------------- the identity provider


class EntraId:
    """The local Entra ID tenant: its keys, its endpoints, and its directory's control API."""

    def __init__(self, store: Store, clock: Callable[[], datetime]):
        self.store = store
        self.clock = clock
        self.tenant_id = TENANT_ID
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self.directory = Directory(store)

    # -- keys and tokens

    def key(self) -> rsa.RSAPrivateKey:
        """The signing key, generated once per state and kept in it (so restarts keep the JWKS)."""
        with self._lock:
            if self._key is None:
                self._key = stored_rsa_key(self.store, "entra_signing_key")
            return self._key

    def public_key(self) -> rsa.RSAPublicKey:
        return self.key().public_key()

    def kid(self) -> str:
        """A thumbprint of the public key, 27 characters long like Entra's key ids."""
        der = self.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return _b64url(hashlib.sha256(der).digest())[:27]

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.public_key(), as_dict=True)
        jwk.update({"kid": self.kid(), "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(
            claims, self.key(), algorithm="RS256", headers={"kid": self.kid(), "typ": "JWT"}
        )

    def trust(self) -> auth.BearerTrust:
        """What ACS checks a bearer token against: this tenant and its signing key."""
        return auth.BearerTrust(self.public_key(), self.tenant_id, ACS_RESOURCE)

    # -- routing

    @staticmethod
    def owns(path: str) -> bool:
        return _ENDPOINTS.match(path) is not None

    def serve(self, req: Request) -> Reply:
        match = _ENDPOINTS.match(req.path)
        assert match is not None  # the caller checked owns()
        tenant, endpoint = match.group("tenant"), match.group("endpoint")
        now = self.clock()
        if tenant.lower() not in (self.tenant_id, entra_demo.DOMAIN):
            error = OAuthError(
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )
            return error.reply(now)
        base = f"{req.base_url}/{self.tenant_id}"
        try:
            if endpoint.endswith("openid-configuration") and req.method == "GET":
                return json_reply(200, self.discovery(base))
            if endpoint.endswith("keys") and req.method == "GET":
                return json_reply(200, self.jwks())
            if endpoint.endswith("authorize") and req.method in ("GET", "POST"):
                return self.authorize(req, base)
            if endpoint.endswith("token") and req.method == "POST":
                return _no_store(json_reply(200, self.token(req, base)))
            if endpoint.endswith("logout") and req.method in ("GET", "POST"):
                return self.logout(req)
            if endpoint.endswith("userinfo") and req.method in ("GET", "POST"):
                return self.userinfo(req)
        except OAuthError as exc:
            return exc.reply(now)
        return json_reply(
            405, {"error": "invalid_request", "error_description": f"{req.method} not allowed."}
        )

    # -- discovery

    def discovery(self, base: str) -> dict:
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "nonce",
                "oid",
                "tid",
                "ver",
                "name",
                "preferred_username",
                "email",
                "groups",
                "roles",
            ],  # fmt: skip
            "request_uri_parameter_supported": False,
            "frontchannel_logout_supported": True,
            "http_logout_supported": True,
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    # -- authorize

    def authorize(self, req: Request, base: str) -> Reply:
        params = dict(req.args)
        if req.method == "POST":
            params.update(_form(req))
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        # Until the client and its redirect URI are known, errors cannot be sent back: show them.
        if not client_id:
            return self._error_page(_missing("client_id"))
        app = self.directory.app(client_id)
        if app is None:
            return self._error_page(self._unknown_app(client_id))
        if not redirect_uri:
            return self._error_page(_missing("redirect_uri"))
        if redirect_uri not in app["redirect_uris"]:
            return self._error_page(
                OAuthError(
                    "invalid_request",
                    50011,
                    f"The redirect URI '{redirect_uri}' specified in the request does not match "
                    f"the redirect URIs configured for the application '{client_id}'.",
                )
            )
        state = params.get("state")
        try:
            self._check_authorize_params(params)
        except OAuthError as exc:
            reply = {"error": exc.error, "error_description": exc.description}
            if state is not None:
                reply["state"] = state
            return redirect(_with_query(redirect_uri, reply))
        chosen = params.get("user") if req.method == "POST" else None
        user = self.directory.user(chosen) if chosen else None
        if user is None:
            return self._sign_in_page(req.path, params, app["name"], bool(chosen))
        code = secrets.token_urlsafe(48)
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO entra_codes (code, client_id, redirect_uri, oid, scope, nonce, "
                "challenge, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    code,
                    client_id,
                    redirect_uri,
                    user["oid"],
                    params["scope"],
                    params.get("nonce"),
                    params["code_challenge"],
                    (self.clock() + CODE_LIFETIME).isoformat(),
                ),
            )
        answer = {"code": code}
        if state is not None:
            answer["state"] = state
        answer["session_state"] = str(uuid.uuid5(uuid.NAMESPACE_URL, user["oid"]))
        return redirect(_with_query(redirect_uri, answer))

    @staticmethod
    def _check_authorize_params(params: dict[str, str]) -> None:
        response_type = params.get("response_type", "")
        if not response_type:
            raise _missing("response_type")
        if response_type != "code":
            raise OAuthError(
                "unsupported_response_type",
                70005,
                f"response_type '{response_type}' is not enabled for the application.",
            )
        if not params.get("scope"):
            raise _missing("scope")
        mode = params.get("response_mode", "query")
        if mode != "query":
            raise OAuthError(
                "invalid_request",
                9002313,
                f"Invalid request. The emulator answers with response_mode 'query' only, "
                f"not '{mode}'.",
            )
        if not params.get("code_challenge"):
            # Stricter than Entra, on purpose: the portal must use PKCE.
            raise OAuthError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code_challenge'. "
                "This emulator requires PKCE (S256).",
            )
        if params.get("code_challenge_method", "plain") != "S256":
            raise OAuthError(
                "invalid_request",
                9002313,
                "Invalid request. code_challenge_method must be 'S256' on this emulator.",
            )
        if params.get("prompt") == "none":
            # No sign-in session is kept, so a silent sign-in can never succeed.
            raise OAuthError(
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            )

    def _sign_in_page(self, path: str, params: dict[str, str], app_name: str, retry: bool) -> Reply:
        hidden = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>\n"
            for k, v in params.items()
            if k != "user"
        )
        buttons = "".join(
            f"<li><button type='submit' name='user' value='{html.escape(u['oid'])}'>"
            f"{html.escape(u['name'])} ({html.escape(u['username'])})</button></li>\n"
            for u in self.directory.users()
        )
        notice = "<p role='alert'>That user no longer exists. Pick another.</p>\n" if retry else ""
        body = (
            f"<p>Sign in to <strong>{html.escape(app_name)}</strong> as one of the "
            "directory's users (local Entra ID emulator, no password).</p>\n"
            f"{notice}<form method='post' action='{html.escape(path)}'>\n{hidden}"
            f"<ul>\n{buttons}</ul>\n</form>"
        )
        return html_reply(400 if retry else 200, "Pick an account", body)

    @staticmethod
    def _error_page(error: OAuthError) -> Reply:
        body = (
            f"<p>Sorry, but we're having trouble signing you in.</p>\n"
            f"<p><code>{html.escape(error.description)}</code></p>"
        )
        return html_reply(400, "Sign-in error", body)

    def _unknown_app(self, client_id: str) -> OAuthError:
        return OAuthError(
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{self.tenant_id}'. This can happen if the application has not been installed by "
            "the administrator of the tenant or consented to by any user in the tenant.",
        )

    # -- token

    def _client(self, req: Request, form: dict[str, str]) -> dict:
        """The app the request authenticates as (client_secret_basic or client_secret_post)."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        authorization = req.header("authorization") or ""
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(
                    "invalid_client", 9002313, "Invalid request. Request is malformed or invalid."
                ) from None
            basic_id, _, basic_secret = decoded.partition(":")
            client_id, secret = unquote(basic_id), unquote(basic_secret)
        if not client_id:
            raise _missing("client_id")
        app = self.directory.app(client_id)
        if app is None:
            raise self._unknown_app(client_id)
        if not secret:
            raise OAuthError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
                status=401,
            )
        if not secrets.compare_digest(secret.encode(), app["secret"].encode()):
            raise OAuthError(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
                status=401,
            )
        return app

    def token(self, req: Request, base: str) -> dict:
        form = _form(req)
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type not in ("authorization_code", "client_credentials"):
            raise OAuthError(
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        app = self._client(req, form)
        if grant_type == "client_credentials":
            return self._client_credentials(app, form.get("scope", ""))
        return self._redeem_code(app, form, base)

    def _client_credentials(self, app: dict, scope: str) -> dict:
        if not scope:
            raise _missing("scope")
        resource = _resource_of(scope.strip())
        if resource is None or " " in scope.strip():
            raise OAuthError(
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if resource != ACS_RESOURCE:
            raise OAuthError(
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{self.tenant_id}.",
            )
        now = self.clock()
        principal = str(uuid.uuid5(uuid.NAMESPACE_URL, "acs-emulator-sp:" + app["client_id"]))
        sts = f"https://sts.windows.net/{self.tenant_id}/"
        # A v1.0 access token, as Entra issues for the Communication Services resource.
        access = self.sign(
            {
                "aud": ACS_RESOURCE,
                "iss": sts,
                "iat": _epoch(now),
                "nbf": _epoch(now),
                "exp": _epoch(now + TOKEN_LIFETIME),
                "app_displayname": app["name"],
                "appid": app["client_id"],
                "appidacr": "1",
                "idp": sts,
                "idtyp": "app",
                "oid": principal,
                "sub": principal,
                "tid": self.tenant_id,
                "uti": secrets.token_urlsafe(16),
                "ver": "1.0",
            }
        )
        lifetime = int(TOKEN_LIFETIME.total_seconds()) - 1
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }

    def _redeem_code(self, app: dict, form: dict[str, str], base: str) -> dict:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not form.get(name):
                raise _missing(name)
        now = self.clock()
        with self.store.write() as conn:
            row = conn.execute(
                "SELECT * FROM entra_codes WHERE code = ?", (form["code"],)
            ).fetchone()
            if row is None or row["client_id"] != app["client_id"]:
                raise OAuthError(
                    "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
                )
            if row["redeemed"]:
                raise OAuthError(
                    "invalid_grant",
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new "
                    "valid code or use an existing refresh token.",
                )
            if datetime.fromisoformat(row["expires"]) <= now:
                raise OAuthError(
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity. Send a new interactive authorization request for this user "
                    "and resource.",
                )
            if row["redirect_uri"] != form["redirect_uri"]:
                raise OAuthError(
                    "invalid_grant",
                    500112,
                    f"The reply address '{form['redirect_uri']}' does not match the reply "
                    f"address '{row['redirect_uri']}' provided when requesting Authorization code.",
                )
            if not secrets.compare_digest(
                pkce_challenge(form["code_verifier"]).encode(), row["challenge"].encode()
            ):
                raise OAuthError(
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the "
                    "authorization request.",
                )
            # One use only: a second redemption of this code is refused (above).
            conn.execute("UPDATE entra_codes SET redeemed = 1 WHERE code = ?", (form["code"],))
        user = self.directory.user(row["oid"])
        if user is None:
            raise OAuthError(
                "invalid_grant",
                50034,
                f"The user account {row['oid']} does not exist in the {self.tenant_id} directory.",
            )
        scopes = row["scope"].split()
        lifetime = int(TOKEN_LIFETIME.total_seconds()) - 1
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(s for s in scopes if s != "openid") or "openid",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._graph_token(user, app, now),
        }
        if "openid" in scopes:
            answer["id_token"] = self.id_token(user, app["client_id"], base, row["nonce"], now)
        return answer

    def id_token(self, user: dict, client_id: str, base: str, nonce: str | None, now) -> str:
        claims: dict[str, Any] = {
            "aud": client_id,
            "iss": f"{base}/v2.0",
            "iat": _epoch(now),
            "nbf": _epoch(now),
            "exp": _epoch(now + TOKEN_LIFETIME),
            "name": user["name"],
            "email": user["email"],
            "oid": user["oid"],
            "preferred_username": user["username"],
            # Entra's sub is pairwise: the same user has another sub in another app.
            "sub": _b64url(hashlib.sha256(f"{client_id}:{user['oid']}".encode()).digest())[:43],
            "tid": self.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
            "groups": user["groups"],
        }
        if user["roles"]:
            claims["roles"] = user["roles"]
        if nonce is not None:
            claims["nonce"] = nonce
        return self.sign(claims)

    def _graph_token(self, user: dict, app: dict, now: datetime) -> str:
        sts = f"https://sts.windows.net/{self.tenant_id}/"
        return self.sign(
            {
                "aud": GRAPH_APP_ID,
                "iss": sts,
                "iat": _epoch(now),
                "nbf": _epoch(now),
                "exp": _epoch(now + TOKEN_LIFETIME),
                "appid": app["client_id"],
                "name": user["name"],
                "oid": user["oid"],
                "scp": "openid profile email User.Read",
                "sub": user["oid"],
                "tid": self.tenant_id,
                "unique_name": user["username"],
                "upn": user["username"],
                "ver": "1.0",
            }
        )

    # -- userinfo and logout

    def userinfo(self, req: Request) -> Reply:
        authorization = req.header("authorization") or ""
        token = authorization[7:] if authorization[:7].lower() == "bearer " else ""
        try:
            claims = jwt.decode(
                token,
                self.public_key(),
                algorithms=["RS256"],
                audience=GRAPH_APP_ID,
                options={"verify_exp": False},
            )
            if _epoch(self.clock()) >= claims["exp"]:
                raise jwt.ExpiredSignatureError("expired")
        except (jwt.InvalidTokenError, KeyError, TypeError):
            reply = json_reply(
                401,
                {
                    "error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token is empty, expired or not valid.",
                    }
                },  # fmt: skip
            )
            reply.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return reply
        user = self.directory.user(claims.get("oid", ""))
        if user is None:
            return json_reply(404, {"error": {"code": "NotFound", "message": "No such user."}})
        return json_reply(
            200,
            {
                "sub": claims["sub"],
                "name": user["name"],
                "email": user["email"],
                "preferred_username": user["username"],
            },
        )

    def logout(self, req: Request) -> Reply:
        params = dict(req.args)
        if req.method == "POST":
            params.update(_form(req))
        target = params.get("post_logout_redirect_uri", "")
        client_id = params.get("client_id", "")
        hint = params.get("id_token_hint", "")
        if not client_id and hint:
            try:
                hinted = jwt.decode(
                    hint,
                    self.public_key(),
                    algorithms=["RS256"],
                    # An expired hint still names the app: Entra accepts it for sign-out.
                    options={"verify_exp": False, "verify_aud": False},
                )
                client_id = str(hinted.get("aud", ""))
            except jwt.InvalidTokenError:
                client_id = ""
        app = self.directory.app(client_id) if client_id else None
        # Only a URI the app registered gets a redirect: anything else would be an open redirect.
        if target and app is not None and target in app["redirect_uris"]:
            state = params.get("state")
            return redirect(_with_query(target, {"state": state}) if state else target)
        return html_reply(200, "You signed out of your account", "<p>You may close this page.</p>")

    # -- control API

    def control(self, req: Request) -> Reply:
        """/_emulator/entra[/...]: read and change the directory."""
        parts = [unquote(p) for p in req.path.rstrip("/").split("/")[3:]]
        status, body = self.directory.control(req.method, parts, req.body)
        return Reply(204) if body is None else json_reply(status, body)
