"""scripts/acs_schemas.py: the in-repo schemas come from the specs, and --check catches drift.

Microsoft's specs are not in the repository, so these tests write a spec folder of their own: the
committed schemas turned back into swagger files, with the noise the script must drop
(descriptions, x-ms extensions, examples, readOnly) and without the closing it must add.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator.openapi_validator import SCHEMAS_FILE

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "acs_schemas.py"


def _upstream(node, key: str):
    """A schema of the file as the spec `key` writes it."""
    if isinstance(node, list):
        return [_upstream(item, key) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        _, target, name = node["$ref"].removeprefix("#/").split("/")
        if target == key:
            ref = f"#/definitions/{name}"
        else:
            ref = f"../../../Common/stable/{target.removeprefix('common-')}/common.json"
            ref += f"#/definitions/{name}"
        return {"$ref": ref, "description": "noise", "readOnly": True, "x-ms-client-name": "n"}
    out = {"description": "noise", "example": "noise", "x-ms-enum": {"name": "n"}}
    for keyword, value in node.items():
        if keyword == "additionalProperties" and value is False:
            continue
        if keyword == "properties":
            value = {name: _upstream(sub, key) for name, sub in value.items()}
        elif keyword == "items":
            value = _upstream(value, key)
        out[keyword] = value
    return out


def write_specs(folder: Path, schemas: dict) -> None:
    """The spec folder that `schemas` (the committed file's content) was generated from."""
    documents = {}
    for key in schemas["sources"]:
        documents[key] = {
            "swagger": "2.0",
            "info": {"title": "t", "version": key.split("-", 1)[1]},
            "paths": {},
            "definitions": {
                name: _upstream(schema, key) for name, schema in schemas["schemas"][key].items()
            },
            "x-ms-parameterized-host": {"hostTemplate": "{endpoint}"},
        }
    examples: dict[tuple, list] = {}
    for example in schemas["examples"]:
        examples.setdefault((example["apiVersion"], example["operationId"]), []).append(example)
    for op in schemas["operations"]:
        key = f"{op['service']}-{op['apiVersion']}"
        responses = {}
        for status, schema in op["responses"].items():
            responses[status] = {"description": "noise"}
            if schema is not None:
                responses[status]["schema"] = _upstream(schema, key)
        item = documents[key]["paths"].setdefault(op["path"], {"parameters": []})
        item[op["method"].lower()] = {
            "operationId": op["operationId"],
            "description": "noise",
            "parameters": [{"$ref": "#/parameters/ApiVersionParameter"}],
            "responses": responses,
            "x-ms-examples": {},
        }
        mine = examples.get((op["apiVersion"], op["operationId"]), [])
        for file_name in sorted({e["file"] for e in mine}):
            op_name = file_name.split(".example.", 1)[1]
            item[op["method"].lower()]["x-ms-examples"][op_name] = {"$ref": f"./examples/{op_name}"}
            body = {"parameters": {"api-version": op["apiVersion"]}, "responses": {}}
            for example in mine:
                if example["file"] == file_name:
                    body["responses"][str(example["status"])] = example["response"]
            (folder / file_name).write_text(json.dumps(body), encoding="utf-8")
    for key, file_name in schemas["sources"].items():
        (folder / file_name).write_text(json.dumps(documents[key], indent=2), encoding="utf-8")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def committed() -> dict:
    return json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def specs(tmp_path, committed) -> Path:
    folder = tmp_path / "openapi"
    folder.mkdir()
    write_specs(folder, committed)
    return folder


def test_it_regenerates_the_committed_file_from_its_specs(specs, tmp_path):
    out = tmp_path / "acs-schemas.json"

    result = run("--specs", str(specs), "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == SCHEMAS_FILE.read_text(encoding="utf-8")


def test_check_passes_when_the_committed_file_matches_the_specs(specs):
    result = run("--check", "--specs", str(specs), "--out", str(SCHEMAS_FILE))

    assert result.returncode == 0, result.stderr
    assert "matches the specs" in result.stdout


def test_check_fails_and_names_what_drifted(specs, committed, tmp_path):
    drifted = copy.deepcopy(committed)
    drifted["schemas"]["rooms-2025-03-13"]["Role"]["enum"].append("Organizer")
    drifted["schemas"]["rooms-2024-04-15"]["RoomModel"]["required"].remove("pstnDialOutEnabled")
    write_specs(specs, drifted)
    out = tmp_path / "acs-schemas.json"
    out.write_text(SCHEMAS_FILE.read_text(encoding="utf-8"), encoding="utf-8")

    result = run("--check", "--specs", str(specs), "--out", str(out))

    assert result.returncode == 1
    assert "/schemas/rooms-2025-03-13/Role/enum" in result.stderr
    assert "/schemas/rooms-2024-04-15/RoomModel/required" in result.stderr
    assert out.read_text(encoding="utf-8") == SCHEMAS_FILE.read_text(encoding="utf-8")


def test_check_fails_when_an_operation_is_added_upstream(specs, committed, tmp_path):
    drifted = copy.deepcopy(committed)
    extra = copy.deepcopy(next(o for o in drifted["operations"] if o["operationId"] == "Rooms_Get"))
    extra.update(operationId="Rooms_Export", path="/rooms/{roomId}/export")
    drifted["operations"].append(extra)
    write_specs(specs, drifted)

    result = run("--check", "--specs", str(specs), "--out", str(SCHEMAS_FILE))

    assert result.returncode == 1
    assert "GET /rooms/{roomId}/export: missing from the committed file" in result.stderr


def test_it_refuses_a_folder_without_the_served_specs(tmp_path):
    result = run("--check", "--specs", str(tmp_path), "--out", str(SCHEMAS_FILE))

    assert result.returncode == 2
    assert "is missing" in result.stderr


def test_the_committed_file_closes_every_object_that_lists_properties(committed):
    def objects(node):
        if isinstance(node, dict):
            if "properties" in node:
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for item in node:
                yield from objects(item)

    found = list(objects(committed["schemas"]))

    assert len(found) >= 10
    assert all(node["additionalProperties"] is False for node in found)
