"""Small request/response values passed between the WSGI layer and the API handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path
    raw_path: str  # path as sent on the wire
    query: str  # raw query string
    args: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    scheme: str
    host: str
    api_version: str | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


@dataclass
class Response:
    status: int
    body: object = None  # JSON-able, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a non-JSON body (inbox pages, attachments); set Content-Type too

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")
