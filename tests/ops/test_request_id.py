"""Every request has an id, answered in X-Request-ID, on its log lines, in the tasks it
enqueued, on their audit events and sent to ACS as x-ms-client-request-id."""

import io
import json
import logging
import sys
import uuid
from datetime import timedelta

import pytest
import structlog
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

import acs_gateway as acs
from outbox import engine
from portal.logging import current_request_id, formatter, request_context
from portal.models import AuditEvent
from rooms.models import Room
from tests.conftest import run_tasks

pytestmark = pytest.mark.django_db

HEADER = "X-Request-ID"


def test_a_request_without_an_id_gets_a_new_one(client):
    first = client.get("/healthz/live")[HEADER]
    second = client.get("/healthz/live")[HEADER]
    assert first != second
    assert str(uuid.UUID(first)) == first  # a GUID, as Azure expects in x-ms-client-request-id


def test_a_well_formed_incoming_id_is_kept(client):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID="lb-7f3a.c2:9_x-1")
    assert response[HEADER] == "lb-7f3a.c2:9_x-1"


@pytest.mark.parametrize(
    "offered",
    ["", "has space", 'quote"d', "x" * 65, "-leading-dash", "new\nline", "é"],
)
def test_a_malformed_incoming_id_is_replaced(client, offered):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID=offered)
    assert response.status_code == 200
    assert response[HEADER] != offered and len(response[HEADER]) == 36


def test_a_redirect_to_sign_in_answers_with_the_id_too(client):
    response = client.get("/", HTTP_X_REQUEST_ID="abc123")
    assert response.status_code == 302
    assert response[HEADER] == "abc123"


def _render(record: logging.LogRecord) -> dict:
    """The record as the settings' JSON formatter writes it, parsed back."""
    options = {k: v for k, v in formatter("json").items() if k != "()"}
    return json.loads(structlog.stdlib.ProcessorFormatter(**options).format(record))


def test_a_log_line_is_one_json_object_with_the_request_id():
    record = logging.LogRecord(
        "rooms", logging.WARNING, __file__, 1, "Room %s: %s", (7, "late"), None
    )
    with request_context("req-42"):
        line = _render(record)
    assert line["event"] == "Room 7: late"
    assert line["request_id"] == "req-42"
    assert (line["level"], line["logger"]) == ("warning", "rooms")
    assert line["timestamp"].endswith("Z")


def test_a_traceback_stays_inside_the_json_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = _render(record)
    assert "ValueError: boom" in line["exception"]


@pytest.fixture
def log_output(monkeypatch) -> io.StringIO:
    """What the settings' console handler writes, instead of stderr."""
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    written = io.StringIO()
    monkeypatch.setattr(handler, "stream", written)
    return written


def test_the_request_logs_carry_its_id(client, log_output):
    # django.request logs a 404 (WARNING) through the configured handler.
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="trace-404")
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert {"event": "Not Found: /no-such-page/", "request_id": "trace-404"}.items() <= (
        lines[-1].items()
    ), lines


def _form() -> dict:
    start = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    return {
        "title": "Traced",
        "notes": "",
        "valid_from": start.strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "time_zone": "UTC",
    }


@pytest.fixture
def sent_headers(monkeypatch) -> list[dict]:
    """The headers of every request the SDKs hand to the transport, i.e. send to ACS."""
    sent: list[dict] = []
    real_send = acs.WsgiTransport.send

    def send(self, request, **kwargs):
        sent.append(dict(request.headers))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(acs.WsgiTransport, "send", send)
    return sent


def test_a_push_caused_by_a_request_carries_its_id_to_the_task_the_audit_and_acs(
    client, scheduler, emulator, sent_headers, django_capture_on_commit_callbacks
):
    client.force_login(scheduler)
    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("rooms:create"), _form(), HTTP_X_REQUEST_ID="create-77")
    assert response.status_code == 302
    room = Room.objects.get()

    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": ["room", room.pk], "kwargs": {"request_id": "create-77"}}
    assert AuditEvent.objects.get(action="portal.room.created").request_id == "create-77"

    run_tasks()
    room.refresh_from_db()
    assert room.acs_id
    assert [h.get("x-ms-client-request-id") for h in sent_headers] == ["create-77"]
    pushed = AuditEvent.objects.get(action="acs.room.created")
    assert pushed.request_id == "create-77"
    # ACS's own id of the exchange stays in the outcome, beside ours.
    assert pushed.acs_outcome["request_id"] and pushed.acs_outcome["request_id"] != "create-77"


def test_a_push_the_sweep_enqueued_gets_an_id_of_its_own(monkeypatch):
    seen = []
    monkeypatch.setattr(engine, "run", lambda kind, pk: seen.append(current_request_id()))
    engine.push_task.call("room", 1)
    engine.push_task.call("room", 1, request_id="from-request")
    assert len(seen[0]) == 36 and seen[1] == "from-request"
    assert current_request_id() == ""


def test_the_log_lines_of_a_push_carry_the_request_id(monkeypatch, log_output):
    def run(kind, pk):
        logging.getLogger("rooms.sync").warning("Pushing %s %s", kind, pk)

    monkeypatch.setattr(engine, "run", run)
    engine.push_task.call("room", 7, request_id="from-request")
    line = json.loads(log_output.getvalue().splitlines()[-1])
    assert (line["event"], line["request_id"]) == ("Pushing room 7", "from-request")


def test_a_call_outside_any_request_keeps_the_sdks_own_id(emulator, sent_headers):
    list(acs.get_gateway().list_rooms())
    (headers,) = sent_headers
    assert len(headers["x-ms-client-request-id"]) == 36  # the SDK's uuid


def test_a_call_inside_a_request_context_sends_its_id(emulator, sent_headers):
    with request_context("ctx-1"):
        list(acs.get_gateway().list_rooms())
        acs.get_gateway().create_user()
    assert [h["x-ms-client-request-id"] for h in sent_headers] == ["ctx-1", "ctx-1"]
