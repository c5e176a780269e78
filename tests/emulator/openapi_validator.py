"""Validate ACS responses against the reference swagger 2.0 specs (as draft 4, refs remapped)."""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import jsonschema
from azure.core.pipeline.policies import SansIOHTTPPolicy
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

BASE_URI = "https://acs-reference.local/openapi/"

# The service specs this suite validates against, keyed by (service, api-version).
SPEC_FILES = {
    ("rooms", "2025-03-13"): "rooms-2025-03-13.communicationservicesrooms.json",
    ("rooms", "2024-04-15"): "rooms-2024-04-15.communicationservicesrooms.json",
    ("identity", "2023-10-01"): "identity-2023-10-01.CommunicationIdentity.json",
}

# Upstream folder layout -> the flat copies (see the reference README).
_COMMON_REF = re.compile(r"^(?:\.\./)+Common/stable/(\d{4}-\d{2}-\d{2})/common\.json(#.*)$")

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


def reference_dir() -> Path:
    configured = os.environ.get("ACS_REFERENCE_DIR")
    if configured:
        path = Path(configured)
        return path / "openapi" if (path / "openapi").is_dir() else path
    return Path(__file__).resolve().parents[3] / "shared" / "acs-reference" / "openapi"


def remap_refs(node: Any) -> Any:
    """Rewrite upstream-relative cross-file refs to the flat file names, recursively."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = _COMMON_REF.match(value)
                if match:
                    value = f"common-{match.group(1)}.common.json{match.group(2)}"
            out[key] = remap_refs(value)
        return out
    if isinstance(node, list):
        return [remap_refs(item) for item in node]
    return node


def _close_objects(node: Any) -> Any:
    """Strict mode: an object schema that lists properties admits no others, so an emulator
    cannot leak fields (say `participants` on a RoomModel) the service never returns."""
    if isinstance(node, dict):
        node = {key: _close_objects(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node and "allOf" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_close_objects(item) for item in node]
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
    file: str


class OpenApiError(AssertionError):
    """A response that does not match what the spec declares."""


class SpecSet:
    """All reference specs, loaded once, with a jsonschema registry that resolves across files."""

    def __init__(self, directory: Path | None = None, *, strict: bool = True) -> None:
        self.directory = directory or reference_dir()
        self.strict = strict
        documents: dict[str, Any] = {}
        for path in sorted(self.directory.glob("*.json")):
            if ".example." in path.name:
                continue
            document = remap_refs(json.loads(path.read_text(encoding="utf-8")))
            documents[path.name] = _close_objects(document) if strict else document
        self.documents = documents
        self.registry = Registry().with_resources(
            (BASE_URI + name, Resource.from_contents(doc, default_specification=DRAFT4))
            for name, doc in documents.items()
        )
        self.operations: list[Operation] = []
        for (service, version), name in SPEC_FILES.items():
            for template, item in documents[name]["paths"].items():
                for method, op in item.items():
                    if method == "parameters":
                        continue
                    self.operations.append(
                        Operation(
                            service=service,
                            api_version=version,
                            operation_id=op["operationId"],
                            method=method.upper(),
                            template=template,
                            pattern=_template_pattern(template),
                            responses=op["responses"],
                            file=name,
                        )
                    )

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

    def schema_for(self, op: Operation, status: int) -> tuple[str, dict | None]:
        key = str(status)
        if key not in op.responses:
            if 200 <= status < 300:
                raise OpenApiError(f"{op.operation_id}: success status {status} is not declared")
            key = "default"
        if key not in op.responses:
            raise OpenApiError(f"{op.operation_id}: status {status} is not declared")
        schema = op.responses[key].get("schema")
        if schema is None:
            return key, None
        # Resolve relative to the spec document so "#/definitions/..." and remapped refs work.
        if "$ref" in schema:
            return key, {"$ref": urljoin(BASE_URI + op.file, schema["$ref"])}
        return key, schema

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
        validator = jsonschema.Draft4Validator(
            schema, registry=self.registry, format_checker=_FORMATS
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
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


def example_responses() -> list[tuple[str, str, int, Any]]:
    """(file, operationId, status, response) for each x-ms-examples entry, with its
    `./examples/<Op>.json` ref remapped to the flat `<prefix>.example.<Op>.json` copy."""
    out = []
    spec_set = specs()
    for (_service, _version), name in SPEC_FILES.items():
        prefix = name.split(".", 1)[0]
        for item in spec_set.documents[name]["paths"].values():
            for method, op in item.items():
                if method == "parameters":
                    continue
                for ref in op.get("x-ms-examples", {}).values():
                    example_name = ref["$ref"].rsplit("/", 1)[-1]
                    path = spec_set.directory / f"{prefix}.example.{example_name}"
                    if not path.exists():
                        continue
                    example = json.loads(path.read_text(encoding="utf-8"))
                    for status, response in example.get("responses", {}).items():
                        out.append((path.name, op["operationId"], int(status), response))
    return out


def validate_example(operation_id: str, status: int, response: dict) -> None:
    spec_set = specs()
    op = next(o for o in spec_set.operations if o.operation_id == operation_id)
    _, schema = spec_set.schema_for(op, status)
    if schema is None:
        return
    body = copy.deepcopy(response.get("body"))
    validator = jsonschema.Draft4Validator(
        schema, registry=spec_set.registry, format_checker=_FORMATS
    )
    validator.validate(body)
