"""Validate ACS responses against the response schemas kept in tests/emulator/schemas/.

acs-schemas.json holds, for every operation the emulator serves, the schema of each response
status as Microsoft's swagger 2.0 specs declare it (draft 4 JSON Schema), with objects closed
(additionalProperties: false), plus the response bodies of the specs' examples. It is generated
by scripts/acs_schemas.py, and CI checks it against the specs; the tests read only this file.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
from azure.core.pipeline.policies import SansIOHTTPPolicy
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMAS_FILE = Path(__file__).resolve().parent / "schemas" / "acs-schemas.json"
BASE_URI = "https://acs-schemas.local/acs-schemas.json"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


def _open_objects(node: Any) -> Any:
    """Lenient mode: drop the additionalProperties: false the file adds to every object schema
    (the specs themselves close none), so extra fields pass."""
    if isinstance(node, dict):
        return {
            key: _open_objects(value)
            for key, value in node.items()
            if not (key == "additionalProperties" and value is False)
        }
    if isinstance(node, list):
        return [_open_objects(item) for item in node]
    return node


@dataclass(frozen=True)
class Operation:
    service: str
    api_version: str
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern
    responses: dict[str, Any]
    index: int  # position in the file's "operations", for JSON pointers


class OpenApiError(AssertionError):
    """A response that does not match what the spec declares."""


class SpecSet:
    """The in-repo schemas, loaded once, with a registry that resolves their $refs."""

    def __init__(self, path: Path | None = None, *, strict: bool = True) -> None:
        self.path = path or SCHEMAS_FILE
        self.strict = strict
        document = json.loads(self.path.read_text(encoding="utf-8"))
        self.document = document if strict else _open_objects(document)
        self.registry = Registry().with_resource(
            BASE_URI, Resource.from_contents(self.document, default_specification=DRAFT4)
        )
        self.operations = [
            Operation(
                service=op["service"],
                api_version=op["apiVersion"],
                operation_id=op["operationId"],
                method=op["method"],
                template=op["path"],
                pattern=_template_pattern(op["path"]),
                responses=op["responses"],
                index=n,
            )
            for n, op in enumerate(self.document["operations"])
        ]

    def operation_ids(self, service: str | None = None, api_version: str | None = None) -> set[str]:
        return {
            op.operation_id
            for op in self.operations
            if (service is None or op.service == service)
            and (api_version is None or op.api_version == api_version)
        }

    def find(self, method: str, url: str) -> Operation:
        parts = urlsplit(url)
        path = unquote(parts.path)
        versions = parse_qs(parts.query).get("api-version", [])
        if len(versions) != 1:
            raise OpenApiError(f"{method} {url}: expected exactly one api-version, got {versions}")
        for op in self.operations:
            if (
                op.method == method.upper()
                and op.api_version == versions[0]
                and op.pattern.fullmatch(path)
            ):
                return op
        raise OpenApiError(f"{method} {path} api-version={versions[0]} is not in the specs")

    def operation(self, operation_id: str, api_version: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id and op.api_version == api_version:
                return op
        raise OpenApiError(f"{operation_id} api-version={api_version} is not in the specs")

    def schema_for(self, op: Operation, status: int) -> tuple[str, dict | None]:
        key = str(status)
        if key not in op.responses:
            if 200 <= status < 300:
                raise OpenApiError(f"{op.operation_id}: success status {status} is not declared")
            key = "default"
        if key not in op.responses:
            raise OpenApiError(f"{op.operation_id}: status {status} is not declared")
        if op.responses[key] is None:
            return key, None
        # Point into the file, so the schema's "#/schemas/..." refs resolve against it.
        return key, {"$ref": f"{BASE_URI}#/operations/{op.index}/responses/{key}"}

    def check(self, schema: dict, instance: Any) -> list[jsonschema.ValidationError]:
        validator = jsonschema.Draft4Validator(
            schema, registry=self.registry, format_checker=_FORMATS
        )
        return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))

    def validate(
        self, method: str, url: str, status: int, body: bytes | str | None, content_type: str = ""
    ) -> Operation:
        """Raise OpenApiError unless (status, body) is what the spec declares for this request."""
        op = self.find(method, url)
        key, schema = self.schema_for(op, status)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        where = f"{op.operation_id} {status}"
        if schema is None:
            if raw.strip():
                raise OpenApiError(f"{where}: the spec declares no body, got {raw[:200]!r}")
            return op
        if "json" not in (content_type or "").lower():
            raise OpenApiError(f"{where}: expected a JSON content type, got {content_type!r}")
        try:
            instance = json.loads(raw)
        except ValueError as exc:
            raise OpenApiError(f"{where}: body is not JSON: {raw[:200]!r}") from exc
        errors = self.check(schema, instance)
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
            raise OpenApiError(f"{where} ({key}) violates the spec:\n" + "\n".join(lines))
        return op


def _template_pattern(template: str) -> re.Pattern:
    out = []
    for piece in re.split(r"(\{[^}]+\})", template):
        out.append("[^/]+" if piece.startswith("{") else re.escape(piece))
    return re.compile("".join(out))


@cache
def specs() -> SpecSet:
    return SpecSet()


class Coverage:
    """Thread-safe record of every validated (operationId, status) pair."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: dict[str, set[int]] = {}
        self.failures: list[str] = []

    def add(self, operation_id: str, status: int) -> None:
        with self._lock:
            self.seen.setdefault(operation_id, set()).add(status)

    def fail(self, message: str) -> None:
        with self._lock:
            self.failures.append(message)

    def missing(self, expected: Iterable[str]) -> set[str]:
        return set(expected) - set(self.seen)

    def assert_clean(self) -> None:
        assert not self.failures, "\n\n".join(self.failures)


class ValidatingPolicy(SansIOHTTPPolicy):
    """Pipeline policy that checks every response the client receives against the spec.

    Failures are recorded (and raised) so a test cannot pass on a non-conforming response even
    if the SDK would have swallowed the exception in an error path."""

    def __init__(self, coverage: Coverage | None = None, spec_set: SpecSet | None = None) -> None:
        self.coverage = coverage or Coverage()
        self.spec_set = spec_set

    def on_response(self, request, response) -> None:
        http_request = request.http_request
        http_response = response.http_response
        try:
            op = (self.spec_set or specs()).validate(
                http_request.method,
                http_request.url,
                http_response.status_code,
                http_response.content,
                http_response.headers.get("Content-Type", ""),
            )
        except OpenApiError as exc:
            self.coverage.fail(str(exc))
            raise
        self.coverage.add(op.operation_id, http_response.status_code)


def all_operations() -> set[str]:
    """Every operation of Rooms 2025-03-13 and Identity 2023-10-01 (the versions the SDKs use)."""
    spec_set = specs()
    return spec_set.operation_ids("rooms", "2025-03-13") | spec_set.operation_ids(
        "identity", "2023-10-01"
    )


def example_responses() -> list[tuple[str, str, str, int, Any]]:
    """(file, api-version, operationId, status, response) for each response of the specs'
    examples (x-ms-examples), as kept in the schemas file."""
    return [
        (e["file"], e["apiVersion"], e["operationId"], e["status"], e["response"])
        for e in specs().document["examples"]
    ]


def validate_example(operation_id: str, api_version: str, status: int, response: dict) -> None:
    spec_set = specs()
    op = spec_set.operation(operation_id, api_version)
    _, schema = spec_set.schema_for(op, status)
    where = f"{operation_id} {api_version} {status}"
    if schema is None:
        if response.get("body") is not None:
            raise OpenApiError(f"{where}: the spec declares no body")
        return
    errors = spec_set.check(schema, response.get("body"))
    if errors:
        raise OpenApiError(f"{where}: " + "; ".join(e.message for e in errors))
