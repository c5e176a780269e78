"""Async SDK clients on the embedded emulator, for the tests only: the portal itself is sync."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from azure.communication.identity.aio import (
    CommunicationIdentityClient as AsyncCommunicationIdentityClient,
)
from azure.communication.rooms.aio import RoomsClient as AsyncRoomsClient
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.core.rest._http_response_impl_async import AsyncHttpResponseImpl

from acs_gateway.clients import IDENTITY_API_VERSION, ROOMS_API_VERSION, make_client
from acs_gateway.transport import _response_headers, build_environ, call_wsgi


class _AsyncClosable:
    async def close(self) -> None:
        pass


class _AsyncWsgiResponse(AsyncHttpResponseImpl):
    def __init__(self, request, status, reason, headers, body) -> None:
        async def stream(**_):
            if body:
                yield body

        super().__init__(
            request=request,
            internal_response=_AsyncClosable(),
            status_code=status,
            reason=reason,
            headers=headers,
            content_type=headers.get("Content-Type"),
            stream_download_generator=stream,
        )
        self._content = body


class AsyncWsgiTransport(AsyncHttpTransport):
    """Async twin of WsgiTransport; the WSGI call runs in a worker thread so latency faults and
    SQLite I/O do not block the event loop."""

    def __init__(self, app: Callable, *, offload: bool = True) -> None:
        self.app = app
        self.offload = offload

    async def send(self, request, **kwargs: Any):
        environ = build_environ(request)
        if self.offload:
            status, reason, headers, body = await asyncio.to_thread(call_wsgi, self.app, environ)
        else:
            status, reason, headers, body = call_wsgi(self.app, environ)
        return _AsyncWsgiResponse(request, status, reason, _response_headers(headers), body)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncWsgiTransport:
        return self

    async def __aexit__(self, *args: Any) -> None:
        pass


def async_rooms_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> AsyncRoomsClient:
    return make_client(
        AsyncRoomsClient,
        ROOMS_API_VERSION,
        connection_string,
        ca_bundle=ca_bundle,
        app=app,
        transport=AsyncWsgiTransport,
        **kwargs,
    )


def async_identity_client(
    connection_string: str = "", *, ca_bundle: str = "", app: Callable | None = None, **kwargs: Any
) -> AsyncCommunicationIdentityClient:
    return make_client(
        AsyncCommunicationIdentityClient,
        IDENTITY_API_VERSION,
        connection_string,
        ca_bundle=ca_bundle,
        app=app,
        transport=AsyncWsgiTransport,
        **kwargs,
    )
