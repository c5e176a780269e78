"""Identity API handlers: identities (create is repeatable), access tokens, revocation and the
Teams exchange."""

from __future__ import annotations

import json
import uuid
from typing import TypedDict

from . import errors
from .messages import Request, Response
from .repeatability import Repeatable
from .store import Store
from .timeutil import TICKS_PER_SECOND, format_ticks, to_ticks
from .tokens import SCP, Signer, token_hash

API_VERSIONS = ("2023-10-01",)
SUPPORTED_HEADER = ", ".join(API_VERSIONS)
SCOPES = ("chat", "voip", "chat.join", "chat.join.limited", "voip.join")
DEFAULT_MINUTES = 1440


class TokenStatus(TypedDict):
    """What the emulator knows of a token it issued, for the control API and the tests."""

    valid: bool
    reason: str | None
    identity: str | None
    scopes: list[str]
    expiresOn: str | None


def _parse_body(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise errors.identity_validation("The request body is not valid JSON.", None) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.identity_validation("The request body must be a JSON object.", None)
    return data


def _minutes(data: dict) -> int:
    value = data.get("expiresInMinutes")
    if value is None:
        return DEFAULT_MINUTES
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.identity_validation(
            f"ExpiresInMinutes value {value} is invalid. Value must be within the [60, 1440] "
            "interval.",
            "ExpiresInMinutes",
        )
    if not 60 <= value <= 1440:
        raise errors.identity_validation(
            f"ExpiresInMinutes value {value} is invalid. Value must be within the [60, 1440] "
            "interval.",
            "ExpiresInMinutes",
        )
    return value


def _scopes(value, field: str) -> list[str]:
    if not isinstance(value, list):
        raise errors.identity_validation(f"{field}: The {field} field is required.", field)
    out = []
    for scope in value:
        if not isinstance(scope, str) or scope.lower() not in SCOPES:
            raise errors.identity_validation(
                f"{field}: The value '{scope}' is not a valid scope. Valid scopes are: "
                + ", ".join(SCOPES)
                + ".",
                field,
            )
        if scope.lower() not in out:
            out.append(scope.lower())
    return out


class IdentityApi:
    """The five Identity operations over a Store."""

    def __init__(self, store: Store, now, resource_id: str, signer: Signer):
        self.store = store
        self.now = now
        self.resource_id = resource_id
        self.signer = signer
        # Identity errors carry no x-ms-error-code (recordings); its rejections neither.
        self.repeatable = Repeatable(store, now, "identity", error_code_header=False)

    def _now_ticks(self) -> int:
        return to_ticks(self.now())

    def _issue(self, conn, identity: str, scopes: list[str], minutes: int, now: int) -> dict:
        iat = now // TICKS_PER_SECOND
        exp = iat + minutes * 60
        claims = {
            "skypeid": identity.removeprefix("8:"),
            "scp": SCP,
            "csi": str(iat),
            "exp": exp,
            "acsScope": ",".join(scopes),
            "resourceId": self.resource_id,
            "iat": iat,
        }
        token = self.signer.sign(claims)
        # As ACS answers: the issue instant plus the lifetime, to the tick; `exp` is its second.
        expires_on = now + minutes * 60 * TICKS_PER_SECOND
        conn.execute(
            "INSERT OR REPLACE INTO tokens (hash, identity, issued, expires, scopes) "
            "VALUES (?, ?, ?, ?, ?)",
            (token_hash(token), identity, now, expires_on, ",".join(scopes)),
        )
        return {"token": token, "expiresOn": format_ticks(expires_on)}

    def _check_id(self, identity: str) -> None:
        if not identity.startswith("8:acs:") or "_" not in identity:
            raise errors.identity_validation(f"Identifier '{identity}' is invalid.", "id")

    def _live_identity(self, conn, identity: str):
        row = conn.execute("SELECT * FROM identities WHERE id = ?", (identity,)).fetchone()
        if row is None or row["deleted"] is not None:
            raise errors.flat(
                404, "IdentityNotFound", "Identity not found.", error_code_header=False
            )
        return row

    def create(self, req: Request) -> Response:
        # Key generation may be slow the first time; keep it out of the write transaction.
        try:
            wants_token = bool(_parse_body(req.body).get("createTokenWithScopes"))
        except errors.ApiError:
            wants_token = False  # create reports it, after the repeatability headers
        if wants_token:
            self.signer.key()
        return self.repeatable.create(req, lambda conn, now: self._create(conn, req, now))

    def _create(self, conn, req: Request, now: int) -> Response:
        data = _parse_body(req.body)
        scopes_value = data.get("createTokenWithScopes")
        scopes = [] if scopes_value is None else _scopes(scopes_value, "CreateTokenWithScopes")
        minutes = _minutes(data)
        identity = f"8:acs:{self.resource_id}_{uuid.uuid4()}"
        conn.execute("INSERT INTO identities (id, created) VALUES (?, ?)", (identity, now))
        body: dict = {"identity": {"id": identity}}
        if scopes:
            body["accessToken"] = self._issue(conn, identity, scopes, minutes, now)
        return Response(201, body)

    def delete(self, req: Request, identity: str) -> Response:
        self._check_id(identity)
        with self.store.write() as conn:
            conn.execute(
                "UPDATE identities SET deleted = ? WHERE id = ? AND deleted IS NULL",
                (self._now_ticks(), identity),
            )
        return Response(204)

    def revoke(self, req: Request, identity: str) -> Response:
        self._check_id(identity)
        with self.store.write() as conn:
            self._live_identity(conn, identity)
            conn.execute(
                "UPDATE identities SET revoked = ? WHERE id = ?", (self._now_ticks(), identity)
            )
        return Response(204)

    def issue(self, req: Request, identity: str) -> Response:
        self._check_id(identity)
        data = _parse_body(req.body)
        scopes = _scopes(data.get("scopes"), "Scopes")
        if not scopes:
            raise errors.identity_validation("Scopes: The Scopes field is required.", "Scopes")
        minutes = _minutes(data)
        self.signer.key()
        with self.store.write() as conn:
            self._live_identity(conn, identity)
            return Response(200, self._issue(conn, identity, scopes, minutes, self._now_ticks()))

    def exchange_teams_token(self, req: Request) -> Response:
        data = _parse_body(req.body)
        for field in ("token", "appId", "userId"):
            if not isinstance(data.get(field), str) or not data.get(field):
                name = field[0].upper() + field[1:]
                raise errors.identity_validation(f"{name}: The {name} field is required.", name)
        # The emulator cannot verify Entra ID tokens, so it answers as ACS does for one it
        # cannot validate.
        raise errors.flat(
            401,
            "InvalidAccessToken",
            "Provided access token is not valid.",
            error_code_header=False,
        )

    def token_status(self, token: str) -> TokenStatus:
        status: TokenStatus = {
            "valid": False,
            "reason": None,
            "identity": None,
            "scopes": [],
            "expiresOn": None,
        }
        verdict, claims = self.signer.verify(token)
        if claims:
            skype = claims.get("skypeid")
            status["identity"] = f"8:{skype}" if isinstance(skype, str) else None
            scope_claim = claims.get("acsScope")
            status["scopes"] = scope_claim.split(",") if isinstance(scope_claim, str) else []
            if isinstance(claims.get("exp"), int):
                status["expiresOn"] = format_ticks(claims["exp"] * TICKS_PER_SECOND)
        if verdict != "ok":
            status["reason"] = verdict
            return status
        with self.store.read() as conn:
            identity = conn.execute(
                "SELECT * FROM identities WHERE id = ?", (status["identity"],)
            ).fetchone()
            row = conn.execute(
                "SELECT * FROM tokens WHERE hash = ?", (token_hash(token),)
            ).fetchone()
        now = self._now_ticks()
        if row is not None:
            status["expiresOn"] = format_ticks(row["expires"])
        if identity is None or row is None:
            status["reason"] = "unknown identity"
        elif identity["deleted"] is not None:
            status["reason"] = "identity deleted"
        elif identity["revoked"] is not None and row["issued"] <= identity["revoked"]:
            status["reason"] = "revoked"
        elif row["expires"] <= now:
            status["reason"] = "expired"
        else:
            status["valid"] = True
        return status
