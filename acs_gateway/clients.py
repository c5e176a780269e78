"""The SDK clients, built from a connection string, from an endpoint alone (keyless: Entra ID),
or on the embedded emulator."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from azure.communication.identity import CommunicationIdentityClient
from azure.communication.rooms import RoomsClient
from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.identity import DefaultAzureCredential

from acs_gateway.transport import WsgiTransport
from portal.logging import current_request_id

if TYPE_CHECKING:
    from acs_emulator import Emulator


class _DropNaiveDatetimeNotice(logging.Filter):
    """RoomsClient.create_room serialises its own naive datetime.utcnow(), so the SDK logs a
    WARNING on every create; the value is the SDK's (and RepeatabilityPolicy may replace it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Datetime with no tzinfo will be considered UTC."


logging.getLogger("azure.communication.rooms._generated._serialization").addFilter(
    _DropNaiveDatetimeNotice()
)

# The embedded emulator is reached in-process; the host only has to be stable because it is signed.
EMBEDDED_ENDPOINT = "https://acs-emulator.local"

# Context option read by RepeatabilityPolicy; RoomsClient.create_room forwards unknown kwargs there.
REPEATABILITY_OPTION = "acs_repeatability"


# --------------------------------------------------------------------------- policies


class RepeatabilityPolicy(SansIOHTTPPolicy):
    """Lets a caller pin Repeatability-Request-ID / -First-Sent, which RoomsClient.create_room
    otherwise overwrites with fresh values on every call (so a retried create could not be
    recognised by ACS). Pass `acs_repeatability=(request_id, first_sent)` to create_room."""

    def on_request(self, request) -> None:
        pinned = request.context.options.pop(REPEATABILITY_OPTION, None)
        if not pinned:
            return
        request_id, first_sent = pinned
        request.http_request.headers["Repeatability-Request-ID"] = request_id
        request.http_request.headers["Repeatability-First-Sent"] = format_datetime(
            first_sent.astimezone(UTC), usegmt=True
        )


class ClientRequestIdPolicy(SansIOHTTPPolicy):
    """Sends the id of the request (or task) that caused the call as `x-ms-client-request-id`
    (portal.logging), instead of the SDK's fresh one per call: ACS echoes it, its logs keep
    it, and the portal's log lines and audit events name the same id."""

    def on_request(self, request) -> None:
        if request_id := current_request_id():
            request.http_request.headers["x-ms-client-request-id"] = request_id


# --------------------------------------------------------------------------- client factories


@runtime_checkable
class EmulatorApp(Protocol):
    """A WSGI app that names its own connection string: the emulator, or a test's wrapper of it.
    Without a connection string, the clients need one of these."""

    def __call__(self, environ: Any, start_response: Any) -> Any: ...

    def connection_string(self, endpoint: str) -> str: ...


def parse_connection_string(connection_string: str) -> tuple[str, str]:
    """`endpoint=http(s)://host[:port]/;accesskey=KEY` -> (endpoint without trailing slash, key)."""
    endpoint = key = ""
    for part in connection_string.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "endpoint":
            endpoint = value.strip().rstrip("/")
        elif name.lower() == "accesskey":
            key = value.strip()
    if not endpoint or not key:
        raise ValueError("ACS connection string needs endpoint=...;accesskey=...")
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    return endpoint, key


_embedded_lock = threading.Lock()
_embedded: dict[str | None, Emulator] = {}


def embedded_emulator(state_path: str | os.PathLike | None = None) -> Emulator:
    """The process-wide emulator used without a connection string (one per state file;
    default: settings.ACS_EMULATOR_STATE, in memory when that is empty)."""
    if state_path is None:
        state_path = _setting("ACS_EMULATOR_STATE", None)
    # str or Path naming the same file must share one emulator.
    key = str(Path(state_path).resolve()) if state_path else None
    with _embedded_lock:
        emulator = _embedded.get(key)
        if emulator is None:
            # Imported here: a portal talking to real ACS never loads the emulator.
            from acs_emulator import Emulator

            if key:
                Path(key).parent.mkdir(parents=True, exist_ok=True)
            emulator = _embedded[key] = Emulator(state_path=key)
        return emulator


def _setting(name: str, default: Any) -> Any:
    try:
        from django.conf import settings

        return getattr(settings, name, default)
    except Exception:  # Django missing or not configured: the core API stays usable without it.
        return default


def configuration() -> tuple[str, str, str, str]:
    """Which ACS the settings name now: (connection string, keyless endpoint, CA bundle,
    emulator state). The gateway and the e-mail client keep one client per distinct value, so
    override_settings in tests takes effect."""
    return (
        _setting("ACS_CONNECTION_STRING", "") or "",
        _setting("ACS_ENDPOINT", "") or "",
        _setting("ACS_CA_BUNDLE", "") or "",
        str(_setting("ACS_EMULATOR_STATE", "") or ""),
    )


def keyless_credential(ca_bundle: str = "") -> TokenCredential:
    """The credential for an ACS endpoint without a key: DefaultAzureCredential, i.e. managed
    identity in Azure, or EnvironmentCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET) elsewhere; the SDKs ask it for https://communication.azure.com/.default."""
    kwargs: dict[str, Any] = {}
    if os.environ.get("AZURE_AUTHORITY_HOST"):
        # The operator named this authority: trust it as Entra ID without asking
        # login.microsoftonline.com (instance discovery) to vouch for it, which it would not
        # for a local or private one. Microsoft's own hosts are never looked up anyway.
        kwargs["disable_instance_discovery"] = True
    if ca_bundle:
        # The authority is trusted with the same CA as ACS (the emulator serves both).
        kwargs["connection_verify"] = ca_bundle
    return DefaultAzureCredential(**kwargs)


def configured_endpoint() -> str:
    """The ACS endpoint the settings name (ACS_CONNECTION_STRING's, else ACS_ENDPOINT);
    "" for the embedded emulator."""
    connection_string = _setting("ACS_CONNECTION_STRING", "") or ""
    if connection_string:
        return parse_connection_string(connection_string)[0]
    return (_setting("ACS_ENDPOINT", "") or "").rstrip("/")


def _client_args(
    connection_string: str,
    ca_bundle: str,
    app: Callable | None,
    transport: type,
    kwargs: dict,
    endpoint: str = "",
) -> tuple[str, AzureKeyCredential | TokenCredential, dict]:
    if not connection_string and endpoint:
        if app is not None and "transport" not in kwargs:
            kwargs["transport"] = transport(app)
        if ca_bundle:
            kwargs.setdefault("connection_verify", ca_bundle)
        return endpoint.rstrip("/"), keyless_credential(ca_bundle), kwargs
    if not connection_string:
        app = app if app is not None else embedded_emulator()
        if not isinstance(app, EmulatorApp):
            raise TypeError("Without a connection string, app must name one (the emulator).")
        connection_string = app.connection_string(EMBEDDED_ENDPOINT + "/")
    endpoint, key = parse_connection_string(connection_string)
    if app is not None and "transport" not in kwargs:
        kwargs["transport"] = transport(app)
    if ca_bundle:
        kwargs.setdefault("connection_verify", ca_bundle)
    return endpoint, AzureKeyCredential(key), kwargs


# The SDKs default api_version to a str-mixin Enum; their pagers put that object into the next-page
# query, which Python >= 3.11 formats as "ApiVersion.V2025_03_13". Plain strings avoid that.
ROOMS_API_VERSION = "2025-03-13"
IDENTITY_API_VERSION = "2023-10-01"


def make_client(
    cls,
    default_api_version: str,
    connection_string: str = "",
    /,
    *,
    ca_bundle: str = "",
    app: Callable | None = None,
    transport: type = WsgiTransport,
    endpoint: str = "",
    **kwargs: Any,
):
    """An SDK client of `cls` (sync by default; the tests build async ones with their own
    in-process transport). See rooms_client() for the arguments."""
    endpoint, credential, kwargs = _client_args(
        connection_string, ca_bundle, app, transport, kwargs, endpoint
    )
    # A plain string: the SDKs' own enum default leaks "ApiVersion.V…" into nextLink queries.
    kwargs.setdefault("api_version", default_api_version)
    if default_api_version == ROOMS_API_VERSION:
        kwargs["per_call_policies"] = [RepeatabilityPolicy(), *kwargs.get("per_call_policies", [])]
    kwargs["per_call_policies"] = [*kwargs.get("per_call_policies", []), ClientRequestIdPolicy()]
    # Not from_connection_string: it forces https, which breaks http endpoints.
    return cls(endpoint, credential, **kwargs)


def rooms_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> RoomsClient:
    """A RoomsClient. Empty connection string: the embedded emulator (or `app`) in-process.
    With `app` and a connection string: that app in-process at the connection string's endpoint.
    Empty connection string and `endpoint=`: that endpoint, keyless (see keyless_credential()).
    Extra kwargs go to the SDK client (e.g. retry_total, per_retry_policies, transport)."""
    return make_client(
        RoomsClient, ROOMS_API_VERSION, connection_string, ca_bundle=ca_bundle, app=app, **kwargs
    )


def identity_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> CommunicationIdentityClient:
    return make_client(
        CommunicationIdentityClient,
        IDENTITY_API_VERSION,
        connection_string,
        ca_bundle=ca_bundle,
        app=app,
        **kwargs,
    )
