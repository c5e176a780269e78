"""E-mail through ACS: send_email() on the embedded emulator, and the Django backend on it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, send_mail
from django.test import override_settings

from acs_emulator import entra_demo as demo
from acs_emulator import start_server
from acs_gateway import AcsInvalidRequest, AcsThrottled, AcsUnavailable
from acs_gateway.email import EmailResult, send_email
from acs_gateway.mail import AcsEmailBackend

BACKEND = "acs_gateway.mail.AcsEmailBackend"
# The test runner swaps every mailer for locmem; these tests put the ACS one back.
MAILERS = {"default": {"BACKEND": BACKEND}}
SENDER = "DoNotReply@portal.acs-emulator.local"


@pytest.fixture
def inbox(emulator):
    """The embedded emulator, polled every 10 ms instead of every second."""
    emulator.email.set_retry_after(0.01)
    return emulator


def send(**overrides) -> EmailResult:
    fields = {
        "sender": SENDER,
        "to": [("ada@example.com", "Ada Lovelace")],
        "subject": "Your room is booked",
        "text": "See you at nine.",
    }
    fields.update(overrides)
    return send_email(**fields)


def test_it_sends_text_html_and_attachments_that_arrive_in_the_inbox(inbox):
    operation_id = str(uuid.uuid4())

    result = send(
        html="<p>See you at <b>nine</b>.</p>",
        attachments=[("invite.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n")],
        operation_id=operation_id,
        reply_to=["desk@example.com"],
    )

    assert result == EmailResult(
        operation_id=operation_id,
        status="Succeeded",
        error=None,
        message_id=operation_id,
        request_id=result.request_id,
        http_status=200,
    )
    assert result.request_id
    [kept] = inbox.email.messages()
    assert kept["operationId"] == operation_id
    assert kept["senderAddress"] == SENDER
    assert kept["to"] == [{"address": "ada@example.com", "displayName": "Ada Lovelace"}]
    assert kept["replyTo"] == [{"address": "desk@example.com"}]
    assert kept["subject"] == "Your room is booked"
    assert kept["plainText"] == "See you at nine."
    assert kept["html"] == "<p>See you at <b>nine</b>.</p>"
    assert kept["attachments"] == [
        {"name": "invite.ics", "contentType": "text/calendar", "size": 17}
    ]
    assert inbox.email.attachment(kept["id"], 0) == (
        "invite.ics",
        "text/calendar",
        b"BEGIN:VCALENDAR\r\n",
    )


def test_it_makes_an_operation_id_when_none_is_given(inbox):
    result = send()

    assert uuid.UUID(result.operation_id)
    assert inbox.email.messages()[0]["operationId"] == result.operation_id


def test_the_same_operation_id_twice_is_one_message(inbox):
    operation_id = str(uuid.uuid4())

    first = send(operation_id=operation_id)
    second = send(operation_id=operation_id)

    assert first.status == second.status == "Succeeded"
    assert len(inbox.email.messages()) == 1


def test_a_bad_address_is_returned_as_failed_not_raised(inbox):
    inbox.email.mark_bad_address("ada@example.com")

    result = send()

    assert result.status == "Failed"
    assert result.error == (
        "EmailDropped: Email was dropped after several attempts to deliver to ada@example.com."
    )
    assert result.http_status == 200
    assert result.message_id == result.operation_id


def test_a_resend_of_a_failed_operation_returns_failed_again_as_one_message(inbox):
    inbox.email.mark_bad_address("ada@example.com")
    operation_id = str(uuid.uuid4())
    first = send(operation_id=operation_id)

    again = send(operation_id=operation_id)

    assert (again.status, again.error) == (first.status, first.error)
    assert len(inbox.email.messages()) == 1


def test_a_server_error_raises_a_transient_gateway_error_and_sends_nothing(inbox):
    inbox.set_faults(error_rates={503: 1.0})

    with pytest.raises(AcsUnavailable) as raised:
        send()

    assert raised.value.status == 503
    assert raised.value.transient
    assert raised.value.operation == "send_email"
    assert inbox.email.messages() == []


def test_throttling_raises_the_throttled_error_with_its_retry_after(inbox):
    inbox.set_faults(error_rates={429: 1.0})

    with pytest.raises(AcsThrottled) as raised:
        send()

    assert raised.value.retry_after == 1


def test_a_connection_dropped_after_the_send_raises_and_a_retry_sends_it_once(inbox):
    operation_id = str(uuid.uuid4())
    inbox.set_faults(drop_rate=1.0, drop_when="after")

    with pytest.raises(AcsUnavailable) as raised:
        send(operation_id=operation_id)
    assert raised.value.code == "ConnectionLost"

    inbox.clear_faults()
    assert send(operation_id=operation_id).status == "Succeeded"
    assert [m["operationId"] for m in inbox.email.messages()] == [operation_id]


def test_a_connection_dropped_before_the_send_raises_a_transient_error(inbox):
    inbox.set_faults(drop_rate=1.0, drop_when="before")

    with pytest.raises(AcsUnavailable) as raised:
        send()

    assert raised.value.code == "ConnectionFailed"
    assert inbox.email.messages() == []


def test_an_invalid_message_raises_the_permanent_error_naming_the_field(inbox):
    with pytest.raises(AcsInvalidRequest) as raised:
        send(to=[("not an address", "")])

    assert raised.value.status == 400
    assert raised.value.target == "recipients.to[0]"
    assert not raised.value.transient


# --------------------------------------------------------------------------- the Django backend


# One override_settings: pytest-django's `settings` fixture inside a decorator's override restores
# the decorator's values after the test, leaking MAILERS into the next tests.
@override_settings(MAILERS=MAILERS, ACS_EMAIL_SENDER="rooms@portal.example.org")
def test_send_mail_goes_through_acs_with_the_configured_sender(inbox):
    sent = send_mail(
        "Booked", "Plain body", None, ["Ada <ada@example.com>"], html_message="<p>Html</p>"
    )

    assert sent == 1
    [kept] = inbox.email.messages()
    assert kept["senderAddress"] == "rooms@portal.example.org"
    assert kept["to"] == [{"address": "ada@example.com", "displayName": "Ada"}]
    assert (kept["subject"], kept["plainText"], kept["html"]) == (
        "Booked",
        "Plain body",
        "<p>Html</p>",
    )
    assert mail.outbox == []  # not Django's test backend


@override_settings(MAILERS=MAILERS)
def test_the_backend_sends_attachments_and_honours_an_operation_id_header(inbox):
    operation_id = str(uuid.uuid4())
    message = EmailMultiAlternatives(
        "Invite",
        "Text",
        to=["ada@example.com"],
        headers={"X-Operation-ID": operation_id},
    )
    message.attach_alternative("<p>Html</p>", "text/html")
    message.attach("invite.ics", "BEGIN:VCALENDAR", "text/calendar")
    message.attach("notes.txt", b"bytes")

    assert message.send() == 1
    assert message.send() == 1  # a retry of the same message: still one e-mail

    [kept] = inbox.email.messages()
    assert kept["operationId"] == operation_id
    assert kept["html"] == "<p>Html</p>"
    assert kept["headers"] == {}
    assert [(a["name"], a["contentType"], a["size"]) for a in kept["attachments"]] == [
        ("invite.ics", "text/calendar", 15),
        ("notes.txt", "text/plain", 5),
    ]


@override_settings(MAILERS=MAILERS)
def test_the_backend_gives_each_bcc_recipient_a_copy_of_their_own(inbox):
    message = EmailMultiAlternatives(
        "Hi", "Text", to=["ada@example.com"], cc=["cy@example.com"], bcc=["bo@example.com"]
    )

    assert message.send() == 1

    copies = sorted(([a["address"] for a in m["to"]], m["bcc"]) for m in inbox.email.messages())
    assert copies == [(["ada@example.com", "cy@example.com"], []), (["bo@example.com"], [])]


@override_settings(MAILERS=MAILERS)
def test_the_backend_counts_a_failed_send_as_not_sent(inbox):
    inbox.email.mark_bad_address("ada@example.com")

    assert send_mail("Hi", "Text", None, ["ada@example.com"]) == 0


@override_settings(MAILERS=MAILERS)
def test_the_backend_raises_the_gateway_error_unless_failing_silently(inbox):
    inbox.set_faults(error_rates={500: 1.0})

    with pytest.raises(AcsUnavailable):
        send_mail("Hi", "Text", None, ["ada@example.com"])
    backend = AcsEmailBackend(fail_silently=True)
    assert (
        backend.send_messages([EmailMultiAlternatives("Hi", "Text", to=["ada@example.com"])]) == 0
    )


def test_the_backend_sends_nothing_for_a_message_without_recipients(inbox):
    assert AcsEmailBackend().send_messages([EmailMultiAlternatives("Hi", "Text")]) == 0
    assert inbox.email.messages() == []


def test_send_email_signs_in_keyless_when_the_settings_name_only_an_endpoint(settings, monkeypatch):
    handle = start_server(tls=True)
    try:
        for name in ("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AZURE_TENANT_ID", demo.TENANT_ID)
        monkeypatch.setenv("AZURE_CLIENT_ID", demo.WORKER_CLIENT_ID)
        monkeypatch.setenv("AZURE_CLIENT_SECRET", demo.WORKER_CLIENT_SECRET)
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", handle.url.rstrip("/"))
        settings.ACS_CONNECTION_STRING = ""
        settings.ACS_ENDPOINT = handle.url.rstrip("/")
        settings.ACS_CA_BUNDLE = handle.ca_bundle
        handle.emulator.email.set_retry_after(0.01)

        result = send()

        assert result.status == "Succeeded"
        assert [m["operationId"] for m in handle.emulator.email.messages()] == [result.operation_id]
    finally:
        handle.stop()


def test_tests_get_djangos_locmem_mailer_unless_they_choose_acs(inbox):
    assert send_mail("Hi", "Text", None, ["ada@example.com"]) == 1

    assert [m.subject for m in mail.outbox] == ["Hi"]
    assert inbox.email.messages() == []


# --------------------------------------------------------------------------- the settings


def _mail_settings(**environment) -> subprocess.CompletedProcess:
    code = (
        "import config.settings as s; "
        "print(repr((s.MAILERS, s.ACS_EMAIL_SENDER, s.ACS_EMAIL_SENDER_NAME)))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={
            "PATH": os.environ["PATH"],
            "PORTAL_ENV_FILE": "",
            "DEBUG": "true",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_settings_send_through_acs_by_default_and_read_empty_values_as_defaults():
    result = _mail_settings(ACS_EMAIL_SENDER="", ACS_EMAIL_SENDER_NAME="")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(
        (
            {"default": {"BACKEND": BACKEND}},
            "DoNotReply@portal.acs-emulator.local",
            "Rooms portal",
        )
    )


def test_the_settings_read_an_smtp_email_url_into_the_default_mailer():
    result = _mail_settings(EMAIL_URL="smtp+tls://user:secret@mail.example.org:587")

    assert result.returncode == 0, result.stderr
    mailers = ast.literal_eval(result.stdout.strip())[0]
    assert mailers == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "mail.example.org",
                "port": 587,
                "username": "user",
                "password": "secret",
                "use_tls": True,
            },
        }
    }


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ACS_EMAIL_SENDER": "not an address"}, "ACS_EMAIL_SENDER='not an address' is not valid"),
        ({"EMAIL_URL": "bogus://x"}, "EMAIL_URL is not valid"),
    ],
)
def test_the_settings_refuse_a_bad_sender_or_email_url(environment, message):
    result = _mail_settings(**environment)

    assert result.returncode != 0
    assert message in result.stderr
