"""Access tokens and the ACS key never reach logs, history or error reports."""

import base64
import logging
import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from identities.services import identity_issue_token
from portal.models import AuditEvent
from tests.conftest import run_tasks
from tests.identities.factories import IdentityFactory

FAKE_CONNECTION = (
    "endpoint=https://example.communication.azure.com/;accesskey=c2VjcmV0LWtleS0xMjM0NQ=="
)


@pytest.fixture
def every_log(caplog):
    """Capture every logger at DEBUG, the SDK's HTTP logging included."""
    azure = logging.getLogger("azure")
    level = azure.level
    azure.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    azure.setLevel(level)


@pytest.mark.django_db
def test_issuing_a_token_logs_and_records_neither_the_token_nor_the_key(
    role_admin, emulator, every_log
):
    identity = IdentityFactory()
    run_tasks()
    issued = identity_issue_token(actor=role_admin, identity=identity, scopes=["voip"])
    assert issued.token.startswith("eyJ")
    logged = every_log.text
    assert issued.token not in logged
    assert emulator.access_key not in logged
    for event in AuditEvent.objects.all():
        stored = f"{event.changes} {event.acs_outcome} {event.target_label}"
        assert issued.token not in stored
        assert emulator.access_key not in stored


def _report_for_exception_holding_secrets(settings) -> str:
    settings.ACS_CONNECTION_STRING = FAKE_CONNECTION
    # Built at run time: the report quotes source lines, which must not hold the value itself.
    token = ".".join(base64.urlsafe_b64encode(part).decode() for part in (b'{"alg":1}', b"sub"))
    connection_string = FAKE_CONNECTION
    credential = connection_string.split("accesskey=")[1]
    try:
        raise RuntimeError("push failed")
    except RuntimeError:
        reporter = ExceptionReporter(RequestFactory().get("/"), *sys.exc_info())
    assert token and credential  # the frame holds both
    return reporter.get_traceback_text() + reporter.get_traceback_html()


def test_error_reports_hide_the_connection_string_keys_and_tokens(settings):
    report = _report_for_exception_holding_secrets(settings)
    assert "push failed" in report
    assert "c2VjcmV0LWtleS0xMjM0NQ" not in report
    assert base64.urlsafe_b64encode(b'{"alg":1}').decode() not in report
    assert "********************" in report
