"""The emulator's ACS Email API: the SDK (sync and aio, in-process and over HTTP), the raw
answers and their spec shapes, Operation-Id, bad addresses, limits, HMAC and faults."""

from __future__ import annotations

import asyncio
import base64
import json
from functools import cache
from pathlib import Path

import pytest
from azure.communication.email import EmailClient
from azure.communication.email.aio import EmailClient as AsyncEmailClient
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceResponseError,
)

import acs_gateway as acs
from acs_emulator import Emulator
from acs_gateway.email import EMAIL_API_VERSION
from tests.emulator.async_clients import AsyncWsgiTransport
from tests.emulator.openapi_validator import Coverage, SpecSet, ValidatingPolicy
from tests.emulator.sdk_harness import reach

EMAIL_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "email-schemas.json"
VERSION = "2025-09-01"
OPERATION = "8540c0de-899f-5cce-acb5-3ec493af3800"


@cache
def email_specs() -> SpecSet:
    return SpecSet(EMAIL_SCHEMAS)


def message(**overrides) -> dict:
    body = {
        "senderAddress": "DoNotReply@portal.acs-emulator.local",
        "content": {"subject": "Room booked", "plainText": "See you.", "html": "<p>See you.</p>"},
        "recipients": {
            "to": [{"address": "ada@example.com", "displayName": "Ada"}],
            "cc": [{"address": "cy@example.com"}],
            "bcc": [{"address": "bo@example.com"}],
        },
        "attachments": [
            {
                "name": "invite.ics",
                "contentType": "text/calendar",
                "contentInBase64": base64.b64encode(b"BEGIN:VCALENDAR").decode(),
            }
        ],
    }
    body.update(overrides)
    return body


def assert_matches_spec(method: str, path: str, response) -> None:
    email_specs().validate(
        method,
        f"https://acs.local{path}?api-version={VERSION}",
        response.status_code,
        response.get_data(),
        response.headers.get("Content-Type", ""),
    )


def send(api, body=None, *, operation_id: str | None = None, raw: bytes | None = None):
    headers = {"Operation-Id": operation_id} if operation_id else {}
    response = api.call(
        "POST",
        "/emails:send",
        json=message() if body is None and raw is None else body,
        body=raw,
        headers=headers,
        version=VERSION,
    )
    assert_matches_spec("POST", "/emails:send", response)
    return response


def poll(api, operation_id: str):
    path = f"/emails/operations/{operation_id}"
    response = api.get(path, version=VERSION)
    assert_matches_spec("GET", path, response)
    return response


@pytest.fixture
def fast_emu():
    emulator = Emulator()
    emulator.email.set_retry_after(0.01)
    yield emulator
    emulator.close()


def sync_client(emulator: Emulator, coverage: Coverage, **kwargs) -> EmailClient:
    return acs.make_client(
        EmailClient,
        EMAIL_API_VERSION,
        emulator.connection_string(acs.EMBEDDED_ENDPOINT),
        app=emulator,
        retry_total=0,
        per_retry_policies=[ValidatingPolicy(coverage, email_specs())],
        **kwargs,
    )


# --------------------------------------------------------------------------- the SDK


def test_the_sync_sdk_sends_and_the_emulator_keeps_the_message(fast_emu):
    coverage = Coverage()
    client = sync_client(fast_emu, coverage)

    result = client.begin_send(message(), operation_id=OPERATION).result()

    assert result == {"id": OPERATION, "status": "Succeeded"}
    coverage.assert_clean()
    assert coverage.seen == {"Email_Send": {202}, "Email_GetSendResult": {200}}
    [kept] = fast_emu.email.messages()
    assert kept["operationId"] == OPERATION
    assert kept["subject"] == "Room booked"
    assert kept["html"] == "<p>See you.</p>"
    assert kept["plainText"] == "See you."
    assert [a["address"] for a in kept["to"] + kept["cc"] + kept["bcc"]] == [
        "ada@example.com",
        "cy@example.com",
        "bo@example.com",
    ]
    assert kept["attachments"] == [
        {"name": "invite.ics", "contentType": "text/calendar", "size": len(b"BEGIN:VCALENDAR")}
    ]
    assert kept["status"] == "Succeeded"


def test_the_aio_sdk_sends_through_the_in_process_transport(fast_emu):
    coverage = Coverage()

    async def run() -> dict:
        client = acs.make_client(
            AsyncEmailClient,
            EMAIL_API_VERSION,
            fast_emu.connection_string(acs.EMBEDDED_ENDPOINT),
            app=fast_emu,
            transport=AsyncWsgiTransport,
            retry_total=0,
            per_retry_policies=[ValidatingPolicy(coverage, email_specs())],
        )
        async with client:
            poller = await client.begin_send(message(subject="ignored"), operation_id=OPERATION)
            return await poller.result()

    assert asyncio.run(run()) == {"id": OPERATION, "status": "Succeeded"}
    coverage.assert_clean()
    assert len(fast_emu.email.messages()) == 1


@pytest.mark.parametrize("wire", ["http", "https"])
def test_the_sdk_sends_over_a_socket(fast_emu, wire):
    with reach(wire, fast_emu) as target:
        # make_client, not from_connection_string: that one forces https. No validating policy:
        # the SDK streams the send's answer, which a policy cannot read over a socket.
        client = acs.make_client(
            EmailClient, EMAIL_API_VERSION, target.connection_string, ca_bundle=target.ca_bundle
        )
        result = client.begin_send(message()).result()
    assert result["status"] == "Succeeded"
    assert fast_emu.email.messages()[0]["operationId"] == result["id"]


def test_the_sdk_raises_with_the_status_body_when_the_send_fails(fast_emu):
    fast_emu.email.mark_bad_address("Bo@Example.com")
    client = sync_client(fast_emu, Coverage())

    with pytest.raises(HttpResponseError) as raised:
        client.begin_send(message()).result()

    assert raised.value.response.status_code == 200
    body = raised.value.response.json()
    assert body["status"] == "Failed"
    assert body["error"]["code"] == "EmailDropped"
    assert "bo@example.com" in body["error"]["message"]


def test_the_sdk_is_refused_with_another_key(fast_emu):
    wrong = base64.b64encode(b"x" * 32).decode()
    client = acs.make_client(
        EmailClient,
        EMAIL_API_VERSION,
        f"endpoint={acs.EMBEDDED_ENDPOINT}/;accesskey={wrong}",
        app=fast_emu,
        retry_total=0,
    )
    with pytest.raises(ClientAuthenticationError):
        client.begin_send(message())
    assert fast_emu.email.messages() == []


# --------------------------------------------------------------------------- raw HTTP


def test_a_send_answers_202_with_where_and_when_to_poll(api):
    response = send(api, operation_id=OPERATION)

    assert response.status_code == 202
    assert response.get_json() == {"id": OPERATION, "status": "NotStarted"}
    assert response.headers["Operation-Location"] == (
        f"http://localhost/emails/operations/{OPERATION}?api-version={VERSION}"
    )
    assert response.headers["Retry-After"] == "1"
    assert VERSION in response.headers["api-supported-versions"]


def test_the_status_moves_from_not_started_through_running_to_succeeded(api):
    send(api, operation_id=OPERATION)

    first, second, third = (poll(api, OPERATION) for _ in range(3))

    assert [r.get_json()["status"] for r in (first, second, third)] == [
        "Running",
        "Succeeded",
        "Succeeded",
    ]
    assert first.headers["Retry-After"] == "1"
    assert "Retry-After" not in second.headers


def test_the_status_also_moves_with_time_for_a_client_that_does_not_poll(api, clock):
    send(api, operation_id=OPERATION)
    clock.advance(seconds=2)

    assert api.emu.email.messages()[0]["status"] == "Succeeded"


def test_a_send_to_a_bad_address_ends_failed_with_the_spec_error_shape(api, emu):
    emu.email.mark_bad_address("ada@example.com")
    send(api, operation_id=OPERATION)

    poll(api, OPERATION)
    final = poll(api, OPERATION)

    assert final.get_json() == {
        "id": OPERATION,
        "status": "Failed",
        "error": {
            "code": "EmailDropped",
            "message": "Email was dropped after several attempts to deliver to ada@example.com.",
        },
    }


def test_a_resend_with_the_same_operation_id_is_one_message(api, emu):
    first = send(api, operation_id=OPERATION)
    poll(api, OPERATION)
    again = send(api, message(subject="changed"), operation_id=OPERATION.upper())

    assert first.status_code == again.status_code == 202
    assert again.get_json() == {"id": OPERATION, "status": "Running"}
    assert [m["subject"] for m in emu.email.messages()] == ["Room booked"]


def test_sends_without_an_operation_id_are_separate_messages(api, emu):
    ids = {send(api).get_json()["id"] for _ in range(2)}

    assert len(ids) == 2
    assert len(emu.email.messages()) == 2


def test_an_unknown_operation_is_not_found(api):
    response = poll(api, OPERATION)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "NotFound"


def test_an_older_api_version_is_accepted(api):
    response = api.post("/emails:send", json=message(), version="2023-03-31")

    assert response.status_code == 202
    assert "api-version=2023-03-31" in response.headers["Operation-Location"]


def _recipients(n: int) -> dict:
    return {"to": [{"address": f"user{i}@example.com"} for i in range(n)]}


@pytest.mark.parametrize(
    ("body", "target", "text"),
    [
        (message(senderAddress=None), "senderAddress", "senderAddress is required"),
        (message(senderAddress="not an address"), "senderAddress", "not a valid email"),
        (message(recipients={"to": []}), "recipients", "At least one recipient"),
        (message(recipients=None), "recipients", "recipients is required"),
        (
            message(recipients={"to": [{"address": "ada@@example"}]}),
            "recipients.to[0]",
            "is not a valid email address",
        ),
        (message(recipients=_recipients(51)), "recipients", "at most 50"),
        (message(content={"plainText": "x"}), "content.subject", "subject is required"),
        (message(content={"subject": "x"}), "content", "plainText or content.html"),
        (
            message(
                attachments=[{"name": "a", "contentType": "text/plain", "contentInBase64": "!"}]
            ),
            "attachments[0].contentInBase64",
            "not valid base64",
        ),
    ],
)
def test_an_invalid_message_is_refused_with_a_400_naming_the_field(api, emu, body, target, text):
    response = send(api, body)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "BadRequest"
    assert error["target"] == target
    assert text in error["message"]
    assert response.headers["x-ms-error-code"] == "BadRequest"
    assert emu.email.messages() == []


def test_fifty_recipients_over_to_cc_and_bcc_are_accepted(api):
    recipients = {
        "to": [{"address": f"to{i}@example.com"} for i in range(20)],
        "cc": [{"address": f"cc{i}@example.com"} for i in range(20)],
        "bcc": [{"address": f"bcc{i}@example.com"} for i in range(10)],
    }
    assert send(api, message(recipients=recipients)).status_code == 202


def test_a_body_that_is_not_json_is_refused(api):
    response = send(api, raw=b"{not json")

    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "The request body is not valid JSON."


def test_a_non_uuid_operation_id_is_refused(api, emu):
    response = send(api, operation_id="outbox-17")

    assert response.status_code == 400
    assert response.get_json()["error"]["target"] == "Operation-Id"
    assert emu.email.messages() == []


def test_a_request_over_10_mb_is_refused_with_413(api, emu):
    big = base64.b64encode(b"x" * (7 * 1024 * 1024 + 600 * 1024)).decode()
    body = message(
        attachments=[
            {"name": "big.bin", "contentType": "application/octet-stream", "contentInBase64": big}
        ]
    )
    assert len(json.dumps(body)) > 10 * 1024 * 1024

    response = send(api, body)

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "RequestEntityTooLarge"
    assert emu.email.messages() == []


def test_a_request_just_under_10_mb_is_accepted(api):
    big = base64.b64encode(b"x" * (7 * 1024 * 1024)).decode()
    body = message(
        attachments=[
            {"name": "big.bin", "contentType": "application/octet-stream", "contentInBase64": big}
        ]
    )
    assert len(json.dumps(body)) < 10 * 1024 * 1024

    assert send(api, body).status_code == 202


def test_a_bad_signature_is_refused_and_nothing_is_kept(api, emu):
    wrong = base64.b64encode(b"y" * 32).decode()
    response = api.call("POST", "/emails:send", json=message(), version=VERSION, key=wrong)

    assert response.status_code == 401
    assert emu.email.messages() == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_injected_errors_apply_to_email_like_to_rooms(api, emu, status):
    emu.set_faults(error_rates={status: 1.0})

    response = send(api)

    assert response.status_code == status
    assert emu.email.messages() == []
    assert emu.requests()["requests"][-1]["fault"] == "error"


def test_a_dropped_connection_after_the_send_keeps_the_message(emu):
    emu.set_faults(drop_rate=1.0, drop_when="after")
    client = sync_client(emu, Coverage())

    with pytest.raises(ServiceResponseError):
        client.begin_send(message(), operation_id=OPERATION)

    assert [m["operationId"] for m in emu.email.messages()] == [OPERATION]


def test_the_spec_examples_match_the_schemas_kept_for_the_tests():
    spec_set = email_specs()
    examples = spec_set.document["examples"]
    assert {e["operationId"] for e in examples} == {"Email_Send", "Email_GetSendResult"}
    for example in examples:
        op = spec_set.operation(example["operationId"], example["apiVersion"])
        _, schema = spec_set.schema_for(op, example["status"])
        assert schema is not None
        assert spec_set.check(schema, example["response"]["body"]) == []
