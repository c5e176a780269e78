"""The Emulator: a WSGI app serving the ACS Rooms, Identity and Email APIs plus the control API."""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qsl, quote, urlsplit

from . import auth, control, email, identity, rooms
from .entra import EntraId
from .errors import ApiError
from .faults import DropConnection, FaultConfig, Faults, build_config, error_response
from .messages import Request, Response
from .store import Store
from .timeutil import format_rfc1123, format_ticks, to_ticks
from .tokens import Signer

_ROOM = r"(?P<room>[^/]+)"
_IDENT = r"(?P<ident>[^/]+)"
_OPERATION = r"(?P<operation_id>[^/]+)"
# (pattern, service, {method: operation})
ROUTES: list[tuple[re.Pattern, str, dict[str, str]]] = [
    (re.compile(r"^/rooms/?$"), "rooms", {"POST": "Rooms_Create", "GET": "Rooms_List"}),
    (
        re.compile(rf"^/rooms/{_ROOM}/participants/?$"),
        "rooms",
        {"GET": "Participants_List", "PATCH": "Participants_Update"},
    ),
    (
        re.compile(rf"^/rooms/{_ROOM}/?$"),
        "rooms",
        {"GET": "Rooms_Get", "PATCH": "Rooms_Update", "DELETE": "Rooms_Delete"},
    ),
    (re.compile(r"^/identities/?$"), "identity", {"POST": "Identity_Create"}),
    (
        re.compile(rf"^/identities/{_IDENT}/:revokeAccessTokens$"),
        "identity",
        {"POST": "Identity_RevokeAccessTokens"},
    ),
    (
        re.compile(rf"^/identities/{_IDENT}/:issueAccessToken$"),
        "identity",
        {"POST": "Identity_IssueAccessToken"},
    ),
    (re.compile(rf"^/identities/{_IDENT}/?$"), "identity", {"DELETE": "Identity_Delete"}),
    (
        re.compile(r"^/teamsUser/:exchangeAccessToken$"),
        "identity",
        {"POST": "TeamsUser_ExchangeAccessToken"},
    ),
    (re.compile(r"^/emails:send$"), "email", {"POST": "Email_Send"}),
    (
        re.compile(rf"^/emails/operations/{_OPERATION}$"),
        "email",
        {"GET": "Email_GetSendResult"},
    ),
]
SUPPORTED = {
    "rooms": (rooms.API_VERSIONS, rooms.SUPPORTED_HEADER),
    "identity": (identity.API_VERSIONS, identity.SUPPORTED_HEADER),
    "email": (email.API_VERSIONS, email.SUPPORTED_HEADER),
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _read_body(environ) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        size = int(length)
    except ValueError:
        size = 0
    return stream.read(size) if size > 0 else b""


def _wsgi_str(value: str) -> str:
    """PEP 3333 strings are latin-1 carriers of the raw bytes."""
    return value.encode("latin-1").decode("utf-8", "replace")


def build_request(environ) -> Request:
    path = _wsgi_str(environ.get("PATH_INFO", "") or "/")
    query = environ.get("QUERY_STRING", "") or ""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        raw_uri = _wsgi_str(raw_uri)
        if "://" in raw_uri.split("?", 1)[0]:
            parts = urlsplit(raw_uri)
            raw_path = parts.path
        else:
            raw_path = raw_uri.split("?", 1)[0]
    else:
        raw_path = quote(path, safe="/:@!$&'()*+,;=-._~")
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = _wsgi_str(value)
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    host = headers.get("host") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    args = dict(parse_qsl(query, keep_blank_values=True))
    return Request(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        path=path,
        raw_path=raw_path,
        query=query,
        args=args,
        headers=headers,
        body=_read_body(environ),
        scheme=environ.get("wsgi.url_scheme", "http"),
        host=host,
    )


class Emulator:
    """A local, faithful emulator of the ACS Rooms and Identity data-plane APIs."""

    def __init__(
        self,
        access_key: str | None = None,
        state_path: str | None = None,
        clock: Callable[[], datetime] | None = None,
        page_size: int = 50,
    ):
        if access_key is not None:
            base64.b64decode(access_key, validate=True)  # fail early on a bad key
        self.state_path = str(state_path) if state_path else None
        self.clock = clock or _utc_now
        self.store = Store(self.state_path)
        self.access_key = access_key or self._stored_or_new_key()
        self.resource_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "acs-emulator:" + self.access_key))
        self.signer = Signer(self.store)
        self.entra = EntraId(self.store, self.clock)
        self.rooms = rooms.RoomsApi(self.store, self.clock, page_size)
        self.identity = identity.IdentityApi(self.store, self.clock, self.resource_id, self.signer)
        self.faults = Faults(self.store)
        self.email = email.EmailApi(self.store, self.clock)

    def _stored_or_new_key(self) -> str:
        """A random key, kept in the state so processes sharing a file share the key too."""
        fresh = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        if self.state_path is None:
            return fresh
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('access_key', ?)", (fresh,)
            )
        return self.store.get_meta("access_key") or fresh

    # --- public helpers ------------------------------------------------------------------
    def connection_string(self, endpoint: str) -> str:
        if not endpoint.endswith("/"):
            endpoint += "/"
        return f"endpoint={endpoint};accesskey={self.access_key}"

    def reset(self) -> None:
        self.store.reset()

    def set_faults(
        self,
        latency_ms=0,
        error_rates=None,
        throttle_rps=None,
        drop_rate=0.0,
        drop_when="either",
        seed=None,
    ) -> None:
        self.faults.set(
            build_config(latency_ms, error_rates, throttle_rps, drop_rate, drop_when, seed)
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def current_faults(self) -> FaultConfig:
        return self.faults.current()

    def requests(self) -> dict:
        with self.store.read() as conn:
            rows = conn.execute("SELECT * FROM requests ORDER BY seq").fetchall()
        entries = []
        counts: dict[str, int] = {}
        for row in rows:
            entries.append(
                {
                    "method": row["method"],
                    "path": row["path"],
                    "operation": row["operation"],
                    "status": row["status"],
                    "duration_ms": row["duration_ms"],
                    "time": row["time"],
                    "fault": row["fault"],
                }
            )
            counts[row["operation"]] = counts.get(row["operation"], 0) + 1
        return {"requests": entries, "counts": counts}

    def token_status(self, token: str) -> identity.TokenStatus:
        return self.identity.token_status(token)

    def close(self) -> None:
        self.store.close()

    # --- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        req = build_request(environ)
        # The local Entra ID: its own endpoints and control API, outside ACS auth and faults.
        if req.path == "/_emulator/entra" or req.path.startswith("/_emulator/entra/"):
            reply = self.entra.control(req)
            return reply.send(start_response, _reason(reply.status))
        if self.entra.owns(req.path):
            reply = self.entra.serve(req)
            return reply.send(start_response, _reason(reply.status))
        if req.path == "/favicon.ico":
            # Browsers ask for it on the sign-in and inbox pages: no icon, rather than an ACS 401
            # that their console shows as an error.
            response = Response(204, None)
        elif req.path.startswith("/_emulator/") or req.path == "/_emulator":
            response = control.handle(self, req)
        else:
            response = self._serve_api(req)
        return self._send(response, start_response)

    @staticmethod
    def _send(response: Response, start_response):
        body = response.encoded()
        headers = list(response.headers.items())
        if response.body is not None:
            headers.append(("Content-Type", "application/json; charset=utf-8"))
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{response.status} {_reason(response.status)}", headers)
        return [body]

    def _route(self, req: Request):
        for pattern, service, methods in ROUTES:
            match = pattern.match(req.path)
            if match:
                return service, methods.get(req.method), match.groupdict()
        return None, None, {}

    def _log(self, req: Request, operation: str, status: int, started: float, fault=None):
        duration = round((time.perf_counter() - started) * 1000, 3)
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO requests (method, path, operation, status, duration_ms, time, fault) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    req.method,
                    req.path,
                    operation,
                    status,
                    duration,
                    format_ticks(to_ticks(self.clock())),
                    fault,
                ),
            )

    def _serve_api(self, req: Request) -> Response:
        started = time.perf_counter()
        service, operation, params = self._route(req)
        log_operation = operation or "Unknown"
        config = self.faults.current()
        self.faults.sleep(config)
        drop = self.faults.drop_phase(config)
        if drop == "before":
            self._log(req, log_operation, 0, started, "drop-before")
            raise DropConnection(applied=False)
        fault = None
        try:
            injected = self.faults.pick_error(config)
            if injected is not None:
                fault = "error"
                raise error_response(injected)
            auth.verify(
                self.access_key,
                req.method,
                req.raw_path,
                req.query,
                req.headers,
                req.body,
                self.clock(),
                trust=self.entra.trust,
            )
            retry_after = self.faults.throttle(config)
            if retry_after is not None:
                fault = "throttle"
                raise error_response(429, retry_after)
            response = self._dispatch(req, service, operation, params)
        except ApiError as exc:
            response = Response(exc.status, exc.body, dict(exc.headers))
        self._decorate(req, service, response)
        if drop == "after":
            self._log(req, log_operation, 0, started, "drop-after")
            raise DropConnection(applied=200 <= response.status < 300)
        self._log(req, log_operation, response.status, started, fault)
        return response

    def _dispatch(self, req: Request, service, operation, params) -> Response:
        if service is None:
            raise ApiError(
                404,
                {
                    "error": {
                        "code": "NotFound",
                        "message": "The server cannot find the requested resource.",
                    }
                },
                {"x-ms-error-code": "NotFound"},
            )
        if operation is None:
            raise ApiError(
                405,
                {
                    "error": {
                        "code": "MethodNotAllowed",
                        "message": f"The requested resource does not support http method "
                        f"'{req.method}'.",
                    }
                },
            )
        versions, _ = SUPPORTED[service]
        version = _normalise_version(req.args.get("api-version"))
        if not version:
            raise ApiError(
                400,
                {
                    "error": {
                        "code": "ApiVersionUnspecified",
                        "message": "An API version is required, but was not specified.",
                    }
                },
            )
        if version not in versions:
            uri = f"{req.base_url}{req.raw_path}" + (f"?{req.query}" if req.query else "")
            raise ApiError(
                400,
                {
                    "error": {
                        "code": "UnsupportedApiVersion",
                        "message": f"The HTTP resource that matches the request URI '{uri}' "
                        f"does not support the API version '{version}'.",
                    }
                },
            )
        req.api_version = version
        room = params.get("room")
        ident = params.get("ident")
        operation_id = params.get("operation_id") or ""
        handlers = {
            "Rooms_Create": lambda: self.rooms.create(req),
            "Rooms_List": lambda: self.rooms.list_rooms(req),
            "Rooms_Get": lambda: self.rooms.get(req, room),
            "Rooms_Update": lambda: self.rooms.update(req, room),
            "Rooms_Delete": lambda: self.rooms.delete(req, room),
            "Participants_List": lambda: self.rooms.list_participants(req, room),
            "Participants_Update": lambda: self.rooms.update_participants(req, room),
            "Identity_Create": lambda: self.identity.create(req),
            "Identity_Delete": lambda: self.identity.delete(req, ident),
            "Identity_RevokeAccessTokens": lambda: self.identity.revoke(req, ident),
            "Identity_IssueAccessToken": lambda: self.identity.issue(req, ident),
            "TeamsUser_ExchangeAccessToken": lambda: self.identity.exchange_teams_token(req),
            "Email_Send": lambda: self.email.send(req),
            "Email_GetSendResult": lambda: self.email.get_send_result(req, operation_id),
        }
        return handlers[operation]()

    def _decorate(self, req: Request, service, response: Response) -> None:
        headers = response.headers
        if service is not None:
            headers.setdefault("api-supported-versions", SUPPORTED[service][1])
        client_request_id = req.header("x-ms-client-request-id")
        if client_request_id:
            headers["x-ms-client-request-id"] = client_request_id
        headers["MS-CV"] = base64.b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        headers["X-Azure-Ref"] = "0" + secrets.token_hex(16).upper()
        headers["Request-Context"] = "appId="
        headers["X-Cache"] = "CONFIG_NOCACHE"
        headers["Date"] = format_rfc1123(datetime.now(UTC))


_ENUM_VERSION = re.compile(r"^ApiVersion\.V(\d{4})_(\d{2})_(\d{2})(_[A-Za-z0-9]+)?$")


def _normalise_version(version: str | None) -> str | None:
    """Read 'ApiVersion.V2025_03_13' as '2025-03-13'.

    The Python Rooms SDK 1.2.0 puts its ApiVersion enum into the nextLink query and, on
    Python >= 3.11, str() of that enum is its qualified name; without this alias every second
    page would fail. What the real service does with that string is unknown (see docs).
    """
    if version is None:
        return None
    match = _ENUM_VERSION.match(version)
    if not match:
        return version
    year, month, day, suffix = match.groups()
    return f"{year}-{month}-{day}" + (suffix or "").replace("_", "-").lower()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
