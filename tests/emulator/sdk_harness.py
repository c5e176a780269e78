"""Shared helpers for the SDK tests: where the emulator is reached (in-process, HTTP, HTTPS)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import acs_gateway as acs
from acs_emulator import Emulator, start_server
from tests.emulator import async_clients
from tests.emulator.openapi_validator import Coverage, ValidatingPolicy

WIRES = ("in-process", "http", "https")


@dataclass
class Target:
    """How a client reaches one emulator, plus the coverage its validating policy records."""

    emulator: Emulator
    connection_string: str
    ca_bundle: str = ""
    app: Any = None
    coverage: Coverage = field(default_factory=Coverage)

    def client_kwargs(self, **extra: Any) -> dict[str, Any]:
        kwargs = {
            "ca_bundle": self.ca_bundle,
            "app": self.app,
            # One HTTP exchange per SDK call, so counts and faults are deterministic.
            "retry_total": 0,
            "per_retry_policies": [ValidatingPolicy(self.coverage)],
        }
        kwargs.update(extra)
        return kwargs

    def rooms(self, **extra: Any):
        return acs.rooms_client(self.connection_string, **self.client_kwargs(**extra))

    def identity(self, **extra: Any):
        return acs.identity_client(self.connection_string, **self.client_kwargs(**extra))

    def async_rooms(self, **extra: Any):
        return async_clients.async_rooms_client(
            self.connection_string, **self.client_kwargs(**extra)
        )

    def async_identity(self, **extra: Any):
        return async_clients.async_identity_client(
            self.connection_string, **self.client_kwargs(**extra)
        )

    def gateway(self, **extra: Any) -> acs.AcsGateway:
        kwargs = self.client_kwargs(**extra)
        kwargs.pop("retry_total")
        return acs.AcsGateway(self.connection_string, **kwargs)


@contextmanager
def reach(wire: str, emulator: Emulator | None = None) -> Iterator[Target]:
    """An emulator reached over `wire`: in-process transport, or a loopback HTTP/HTTPS server."""
    emulator = emulator or Emulator()
    if wire == "in-process":
        yield Target(emulator, emulator.connection_string(acs.EMBEDDED_ENDPOINT), app=emulator)
        return
    handle = start_server(tls=wire == "https", emulator=emulator)
    try:
        yield Target(emulator, handle.connection_string, ca_bundle=handle.ca_bundle or "")
    finally:
        handle.stop()
