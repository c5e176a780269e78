"""The ACS gateway: the one package that imports the Azure SDKs.

The portal calls ACS only through `get_gateway()`, whose operations record every HTTP exchange
as an `Attempt` and raise the errors below; with no connection string configured the same SDK
clients talk to the embedded emulator in-process (`transport.WsgiTransport`), and with only
ACS_ENDPOINT they sign in keyless with Entra ID (`clients.keyless_credential`).
"""

from acs_gateway.clients import (
    EMBEDDED_ENDPOINT,
    IDENTITY_API_VERSION,
    ROOMS_API_VERSION,
    RepeatabilityPolicy,
    configured_endpoint,
    embedded_emulator,
    identity_client,
    make_client,
    parse_connection_string,
    rooms_client,
)
from acs_gateway.errors import (
    AcsAuthError,
    AcsError,
    AcsInvalidRequest,
    AcsNotFound,
    AcsThrottled,
    AcsUnavailable,
    map_error,
)
from acs_gateway.gateway import AcsGateway, get_gateway
from acs_gateway.records import AcsRoom, Attempt
from acs_gateway.transport import WsgiTransport

__all__ = [
    "EMBEDDED_ENDPOINT",
    "IDENTITY_API_VERSION",
    "ROOMS_API_VERSION",
    "AcsAuthError",
    "AcsError",
    "AcsGateway",
    "AcsInvalidRequest",
    "AcsNotFound",
    "AcsRoom",
    "AcsThrottled",
    "AcsUnavailable",
    "Attempt",
    "RepeatabilityPolicy",
    "WsgiTransport",
    "configured_endpoint",
    "embedded_emulator",
    "get_gateway",
    "identity_client",
    "make_client",
    "map_error",
    "parse_connection_string",
    "rooms_client",
]
