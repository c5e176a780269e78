"""The OpenAPI validator the SDK tests use: it loads the in-repo schemas and judges responses."""

import json

import pytest

from tests.emulator.openapi_validator import (
    SCHEMAS_FILE,
    OpenApiError,
    SpecSet,
    all_operations,
    example_responses,
    specs,
    validate_example,
)

ROOM = {
    "id": "99454291444134085",
    "createdAt": "2025-02-19T07:29:46.300638+00:00",
    "validFrom": "2025-02-19T07:29:46.2571369+00:00",
    "validUntil": "2025-08-18T07:29:46.2571369+00:00",
    "pstnDialOutEnabled": False,
}
JSON = "application/json; charset=utf-8"
ROOMS = "https://acs.example/rooms"
V = "?api-version=2025-03-13"


def test_it_reads_its_schemas_from_the_repository_only():
    repo = SCHEMAS_FILE.parents[3]

    assert specs().path == SCHEMAS_FILE
    assert SCHEMAS_FILE.is_relative_to(repo / "tests")
    assert all(not ref.startswith("..") for ref in _refs(specs().document))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_it_knows_every_operation_the_emulator_serves_in_each_api_version():
    rooms = {
        "Rooms_Create",
        "Rooms_List",
        "Rooms_Get",
        "Rooms_Update",
        "Rooms_Delete",
        "Participants_List",
        "Participants_Update",
    }

    assert specs().operation_ids("rooms", "2025-03-13") == rooms
    assert specs().operation_ids("rooms", "2024-04-15") == rooms
    assert len(specs().operation_ids("identity", "2023-10-01")) == 5


def test_it_knows_the_twelve_operations_of_rooms_and_identity():
    assert all_operations() == {
        "Rooms_Create",
        "Rooms_List",
        "Rooms_Get",
        "Rooms_Update",
        "Rooms_Delete",
        "Participants_List",
        "Participants_Update",
        "CommunicationIdentity_Create",
        "CommunicationIdentity_Delete",
        "CommunicationIdentity_RevokeAccessTokens",
        "CommunicationIdentity_IssueAccessToken",
        "CommunicationIdentity_ExchangeTeamsUserAccessToken",
    }


@pytest.mark.parametrize(
    ("file", "api_version", "operation_id", "status", "response"),
    example_responses(),
    ids=lambda value: value if isinstance(value, str) and value.endswith(".json") else "",
)
def test_it_accepts_every_published_example_response(
    file, api_version, operation_id, status, response
):
    validate_example(operation_id, api_version, status, response)


def test_it_keeps_an_example_of_every_operation_of_the_versions_the_sdks_use():
    examples = {(version, op) for _, version, op, *_ in example_responses()}

    assert {op for version, op in examples if version in ("2025-03-13", "2023-10-01")} == (
        all_operations()
    )


def test_it_rejects_an_example_body_that_breaks_its_schema():
    room = {k: v for k, v in ROOM.items() if k != "validUntil"}

    with pytest.raises(OpenApiError, match="'validUntil' is a required property"):
        validate_example("Rooms_Get", "2025-03-13", 200, {"body": room})


def test_it_accepts_a_room_with_seven_fractional_digits_and_an_offset():
    op = specs().validate("GET", f"{ROOMS}/99454291444134085{V}", 200, json.dumps(ROOM), JSON)

    assert op.operation_id == "Rooms_Get"


def test_it_matches_identity_paths_with_an_encoded_raw_id():
    url = "https://acs.example/identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2023-10-01"
    body = {"token": "a.b.c", "expiresOn": "2025-02-19T07:29:46Z"}

    op = specs().validate("POST", url, 200, json.dumps(body), JSON)

    assert op.operation_id == "CommunicationIdentity_IssueAccessToken"


def test_it_validates_errors_against_the_common_error_model_of_the_right_version():
    body = {"error": {"code": "ValidationError", "message": "m", "target": "Scopes"}}
    url = "https://acs.example/identities?api-version=2023-10-01"

    specs().validate("POST", url, 400, json.dumps(body), JSON)
    with pytest.raises(OpenApiError, match="'message' is a required property"):
        specs().validate("POST", url, 400, json.dumps({"error": {"code": "X"}}), JSON)


def test_it_rejects_a_room_missing_a_required_field():
    room = {k: v for k, v in ROOM.items() if k != "pstnDialOutEnabled"}

    with pytest.raises(OpenApiError, match="'pstnDialOutEnabled' is a required property"):
        specs().validate("POST", f"{ROOMS}{V}", 201, json.dumps(room), JSON)


def test_it_rejects_fields_the_service_never_returns():
    room = {**ROOM, "participants": {}}

    with pytest.raises(OpenApiError, match="'participants' was unexpected"):
        specs().validate("GET", f"{ROOMS}/99454291444134085{V}", 200, json.dumps(room), JSON)


@pytest.mark.parametrize(
    ("url", "status", "body", "message"),
    [
        (
            f"{ROOMS}{V}",
            400,
            {
                "error": {
                    "code": "X",
                    "message": "m",
                    "innererror": {"code": "Y", "message": "n", "x": 1},
                }
            },
            "'x' was unexpected",
        ),
        (
            "https://acs.example/identities?api-version=2023-10-01",
            201,
            {"identity": {"id": "8:acs:r_u", "kind": "communicationUser"}},
            "'kind' was unexpected",
        ),
        (
            "https://acs.example/identities?api-version=2023-10-01",
            201,
            {"identity": {"id": "8:acs:r_u"}, "accessToken": {"token": "t", "expiresOn": "x"}},
            "date-time",
        ),
        (f"{ROOMS}/1/participants{V}", 200, {"value": [], "count": 0}, "'count' was unexpected"),
    ],
    ids=["nested-error", "identity", "token-expiry", "participants-page"],
)
def test_it_rejects_extra_fields_at_every_depth(url, status, body, message):
    method = "GET" if "participants" in url else "POST"

    with pytest.raises(OpenApiError, match=message):
        specs().validate(method, url, status, json.dumps(body), JSON)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pstnDialOutEnabled", "true", "'true' is not of type 'boolean'"),
        ("id", 99454291444134085, "is not of type 'string'"),
        ("validFrom", None, "None is not of type 'string'"),
    ],
)
def test_it_rejects_a_field_of_the_wrong_type(field, value, message):
    room = {**ROOM, field: value}

    with pytest.raises(OpenApiError, match=message):
        specs().validate("GET", f"{ROOMS}/1{V}", 200, json.dumps(room), JSON)


def test_it_can_be_lenient_about_extra_fields():
    room = {**ROOM, "participants": {}}

    SpecSet(strict=False).validate("GET", f"{ROOMS}/1{V}", 200, json.dumps(room), JSON)


def test_it_rejects_a_timestamp_that_is_not_rfc3339():
    room = {**ROOM, "createdAt": "Wed, 19 Feb 2025 07:29:46 GMT"}

    with pytest.raises(OpenApiError, match="date-time"):
        specs().validate("GET", f"{ROOMS}/1{V}", 200, json.dumps(room), JSON)


def test_it_rejects_a_role_outside_the_enum_of_the_api_version():
    body = {"value": [{"rawId": "8:acs:r_u", "role": "Collaborator"}]}
    url = f"{ROOMS}/1/participants?api-version="

    specs().validate("GET", url + "2025-03-13", 200, json.dumps(body), JSON)
    with pytest.raises(OpenApiError, match="is not one of"):
        specs().validate("GET", url + "2024-04-15", 200, json.dumps(body), JSON)


def test_it_rejects_an_undeclared_success_status():
    with pytest.raises(OpenApiError, match="success status 200 is not declared"):
        specs().validate("POST", f"{ROOMS}{V}", 200, json.dumps(ROOM), JSON)


def test_it_rejects_a_body_where_the_spec_declares_none():
    with pytest.raises(OpenApiError, match="declares no body"):
        specs().validate("DELETE", f"{ROOMS}/1{V}", 204, b"{}", JSON)


def test_it_rejects_a_json_body_without_a_json_content_type():
    with pytest.raises(OpenApiError, match="JSON content type"):
        specs().validate("GET", f"{ROOMS}/1{V}", 200, json.dumps(ROOM), "text/plain")


def test_it_rejects_a_path_or_version_outside_the_specs():
    with pytest.raises(OpenApiError, match="not in the specs"):
        specs().validate("GET", f"{ROOMS}/1/chat{V}", 200, b"{}", JSON)
    with pytest.raises(OpenApiError, match="not in the specs"):
        specs().validate("GET", f"{ROOMS}/1?api-version=2019-01-01", 200, b"{}", JSON)
