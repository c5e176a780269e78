"""Request authentication as ACS does it: HMAC-SHA256 (tolerant of every SDK's way of signing),
or an Entra ID bearer token for the Communication Services resource."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import ApiError
from .timeutil import parse_rfc1123

DENIED = "Denied by the resource provider."
HASH_MISMATCH = "Request 'x-ms-content-sha256' differs from generated content hash."
CLOCK_SKEW = (
    "The time difference between the originating client and the server is greater than "
    "the allowed margin of 5 minutes."
)
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class BearerTrust:
    """What a bearer token must match: the issuing tenant, its signing key, ACS's audience."""

    key: rsa.RSAPublicKey
    tenant_id: str
    audience: str


def _denied(message: str = DENIED) -> ApiError:
    return ApiError(401, {"error": {"code": "Denied", "message": message}})


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def sign(key: str, string_to_sign: str) -> str:
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def _form_encode(text: str) -> str:
    # URLSearchParams keeps only alphanumerics and *-._ ; Python's quote also keeps "~".
    return quote(text, safe="*").replace("~", "%7E").replace("%20", "+")


def _url_search_params(query: str) -> str:
    """The query as JS URLSearchParams.toString() re-serialises it (form encoding)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(_form_encode(k) + "=" + _form_encode(v) for k, v in pairs)


def path_candidates(raw_path: str, query: str) -> list[str]:
    """Every pathAndQuery form an SDK may have signed (see BEHAVIOUR.md section 4)."""
    forms = []
    raw = raw_path + ("?" + query if query else "")
    forms.append(raw)
    forms.append(unquote(raw))
    # The fully escaped form (e.g. "8%3Aacs%3A..."), for hosts that hand us a decoded path only.
    forms.append(quote(unquote(raw_path), safe="/") + ("?" + query if query else ""))
    if query:
        forms.append(raw_path + "?" + _url_search_params(query))
    out: list[str] = []
    for form in forms:
        for variant in (form, form[1:] if form.startswith("/") else "/" + form):
            if variant not in out:
                out.append(variant)
    return out


def _parse_authorization(value: str) -> tuple[list[str], str] | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.upper() != "HMAC-SHA256" or not rest:
        return None
    fields = {}
    for part in rest.strip().split("&"):
        name, sep, val = part.partition("=")
        if not sep:
            return None
        # The signature is base64 and may itself end in '='.
        fields[name.strip().lower()] = val
    signed = fields.get("signedheaders")
    signature = fields.get("signature")
    if not signed or not signature:
        return None
    return [h.strip().lower() for h in signed.split(";") if h.strip()], signature


def verify(
    key: str,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    trust: Callable[[], BearerTrust] | None = None,
) -> None:
    """Raise ApiError(401) unless the request is validly HMAC-signed or carries a bearer token
    that `trust()` accepts (called only then: it may load a key); header names lower-case."""
    authorization = headers.get("authorization")
    if not authorization:
        raise _denied()
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        verify_bearer(token.strip(), trust() if trust else None, now)
        return
    parsed = _parse_authorization(authorization)
    if parsed is None:
        raise _denied()
    signed_headers, signature = parsed

    sent_hash = headers.get("x-ms-content-sha256")
    if sent_hash is None:
        raise _denied()
    if not hmac.compare_digest(sent_hash.strip(), content_hash(body)):
        raise _denied(HASH_MISMATCH)

    date_value = headers.get("x-ms-date") or headers.get("date")
    sent_at = parse_rfc1123(date_value or "")
    if sent_at is None:
        raise _denied()
    if abs(now - sent_at) > MAX_SKEW:
        raise _denied(CLOCK_SKEW)

    values = []
    for name in signed_headers:
        value = headers.get(name)
        if value is None:
            raise _denied()
        values.append(value)
    signed_tail = ";".join(values)
    for path in path_candidates(raw_path, query):
        expected = sign(key, f"{method.upper()}\n{path}\n{signed_tail}")
        if hmac.compare_digest(expected, signature):
            return
    raise _denied()


def verify_bearer(token: str, trust: BearerTrust | None, now: datetime) -> dict:
    """The claims of an Entra ID access token for ACS, or ApiError(401): it must be signed by the
    trusted tenant's key, be for ACS's audience, and be within its lifetime (5 minutes' skew)."""
    if trust is None or not token:
        raise _denied()
    try:
        claims = jwt.decode(
            token,
            trust.key,
            algorithms=["RS256"],
            audience=[trust.audience, trust.audience + "/"],
            # Checked below against the emulator's clock (tests move it), not time.time().
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        raise _denied() from None
    moment = now.timestamp()
    expires, not_before = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(expires, int) or not isinstance(not_before, int):
        raise _denied()
    if (
        moment >= expires + MAX_SKEW.total_seconds()
        or moment < not_before - MAX_SKEW.total_seconds()
    ):
        raise _denied()
    if claims.get("tid") != trust.tenant_id:
        raise _denied()
    return claims
