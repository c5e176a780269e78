"""The emulator's kept e-mails: the JSON list, the HTML inbox (escaped, HTML in a sandboxed
frame), attachment downloads and the e-mail control calls."""

from __future__ import annotations

import base64
import html
import re

import pytest
from werkzeug.test import Client

from tests.emulator.test_email_api import message, send

HOSTILE = "<script>alert(1)</script>'\"&"


@pytest.fixture
def control(emu) -> Client:
    return Client(emu)


def test_the_json_list_shows_each_message_newest_first(api, control):
    send(api, message(content={"subject": "first", "plainText": "one"}))
    send(api, operation_id="8540c0de-899f-5cce-acb5-3ec493af3800")

    listed = control.get("/_emulator/emails").get_json()

    assert [m["subject"] for m in listed] == ["Room booked", "first"]
    newest = listed[0]
    assert newest["operationId"] == "8540c0de-899f-5cce-acb5-3ec493af3800"
    assert newest["senderAddress"] == "DoNotReply@portal.acs-emulator.local"
    assert newest["to"] == [{"address": "ada@example.com", "displayName": "Ada"}]
    assert newest["cc"] == [{"address": "cy@example.com"}]
    assert newest["bcc"] == [{"address": "bo@example.com"}]
    assert newest["html"] == "<p>See you.</p>"
    assert newest["plainText"] == "See you."
    assert newest["attachments"] == [
        {"name": "invite.ics", "contentType": "text/calendar", "size": 15}
    ]
    assert newest["status"] == "NotStarted"
    assert newest["receivedAt"].endswith("+00:00")
    assert control.get(f"/_emulator/emails/{newest['id']}").get_json() == newest


def test_an_attachment_downloads_with_its_bytes_and_never_renders(api, control, emu):
    payload = b"<html><script>alert(1)</script></html>"
    attachments = [
        {
            "name": "page one.html",
            "contentType": "text/html",
            "contentInBase64": base64.b64encode(payload).decode(),
        },
        {
            "name": "x",
            "contentType": "text/html\r\nSet-Cookie: a=b",
            "contentInBase64": base64.b64encode(b"x").decode(),
        },
    ]
    send(api, message(attachments=attachments))
    message_id = emu.email.messages()[0]["id"]

    first = control.get(f"/_emulator/emails/{message_id}/attachments/0")
    second = control.get(f"/_emulator/emails/{message_id}/attachments/1")

    assert first.status_code == 200
    assert first.get_data() == payload
    assert first.headers["Content-Disposition"] == "attachment; filename*=UTF-8''page%20one.html"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["Content-Security-Policy"] == "sandbox"
    assert second.headers["Content-Type"] == "application/octet-stream"
    assert "Set-Cookie" not in second.headers
    assert control.get(f"/_emulator/emails/{message_id}/attachments/2").status_code == 404
    assert control.get(f"/_emulator/emails/{message_id}/attachments/x").status_code == 404


def test_the_inbox_lists_messages_with_hostile_values_escaped(api, control, emu):
    send(
        api,
        message(
            senderAddress="o'neil&co@example.com",
            content={"subject": HOSTILE, "plainText": "x"},
            recipients={"to": [{"address": "ada@example.com", "displayName": HOSTILE}]},
        ),
    )

    page = control.get("/_emulator/inbox")
    text = page.get_data(as_text=True)

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "<script>" not in text
    assert html.escape(HOSTILE) in text
    assert "o&#x27;neil&amp;co@example.com" in text
    assert f"/_emulator/inbox/{emu.email.messages()[0]['id']}" in text


def test_the_message_page_shows_the_html_in_a_sandboxed_frame_and_the_text(api, control, emu):
    hostile_html = "<p onclick='x()'>Hi</p><script>parent.document.title='owned'</script>"
    send(
        api,
        message(content={"subject": HOSTILE, "plainText": "Line <one>", "html": hostile_html}),
    )
    message_id = emu.email.messages()[0]["id"]

    page = control.get(f"/_emulator/inbox/{message_id}")
    text = page.get_data(as_text=True)

    assert page.status_code == 200
    frame = re.search(r"<iframe ([^>]*)>", text)
    assert frame is not None
    assert "sandbox=''" in frame.group(1)
    assert f"srcdoc='{html.escape(hostile_html, quote=True)}'" in frame.group(1)
    assert "<script>" not in text
    assert "<pre>Line &lt;one&gt;</pre>" in text
    assert f"<title>{html.escape(HOSTILE)}</title>" in text
    assert f"/_emulator/emails/{message_id}/attachments/0" in text


def test_the_message_page_shows_why_a_send_failed(api, control, emu):
    emu.email.mark_bad_address("ada@example.com")
    send(api)
    message_id = emu.email.messages()[0]["id"]
    for _ in range(2):
        api.get(
            f"/emails/operations/{emu.email.messages()[0]['operationId']}", version="2025-09-01"
        )

    text = control.get(f"/_emulator/inbox/{message_id}").get_data(as_text=True)

    assert "EmailDropped: Email was dropped" in text
    assert "<dd>Failed</dd>" in text


def test_an_unknown_message_is_404_on_every_inbox_url(control):
    assert control.get("/_emulator/inbox/nope").status_code == 404
    assert control.get("/_emulator/emails/nope").status_code == 404
    assert control.get("/_emulator/emails/nope/attachments/0").status_code == 404


def test_the_empty_inbox_says_so(control):
    assert "No e-mail received yet." in control.get("/_emulator/inbox").get_data(as_text=True)


def test_bad_addresses_are_marked_listed_and_cleared_through_the_control_api(control, emu):
    added = control.post("/_emulator/emails/bad-addresses", json={"address": "Bo@Example.com"})

    assert added.get_json() == {"badAddresses": ["bo@example.com"]}
    assert control.get("/_emulator/emails/bad-addresses").get_json() == {
        "badAddresses": ["bo@example.com"]
    }
    assert control.delete("/_emulator/emails/bad-addresses").status_code == 200
    assert emu.email.bad_addresses() == []


@pytest.mark.parametrize("body", [{"address": "nope"}, {}, ["x"]])
def test_a_bad_address_that_is_not_an_address_is_refused(control, emu, body):
    response = control.post("/_emulator/emails/bad-addresses", json=body)

    assert response.status_code == 400
    assert emu.email.bad_addresses() == []


def test_clearing_the_inbox_removes_every_message(api, control, emu):
    send(api)

    assert control.delete("/_emulator/emails").get_json() == {"status": "cleared"}
    assert control.get("/_emulator/emails").get_json() == []


def test_reset_empties_the_inbox_the_bad_addresses_and_the_poll_interval(api, control, emu):
    send(api)
    emu.email.mark_bad_address("ada@example.com")
    emu.email.set_retry_after(0.01)

    emu.reset()

    assert emu.email.messages() == []
    assert emu.email.bad_addresses() == []
    assert emu.email.retry_after() == 1.0


def test_the_poll_interval_can_be_shortened_for_tests(api, control):
    response = control.put("/_emulator/emails/settings", json={"retry_after": 0.05})

    assert response.get_json() == {"retry_after": 0.05}
    sent = send(api)
    assert sent.headers["retry-after-ms"] == "50"
    assert "Retry-After" not in sent.headers


@pytest.mark.parametrize("body", [{"retry_after": 0}, {"retry_after": "soon"}, {"other": 1}])
def test_a_nonsense_poll_interval_is_refused(control, emu, body):
    assert control.put("/_emulator/emails/settings", json=body).status_code == 400
    assert emu.email.retry_after() == 1.0
