"""The emulator's HTML inbox: the e-mails it received, each shown with its HTML in a sandboxed
frame. Every value comes from a client, so everything is escaped."""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from .messages import Response

if TYPE_CHECKING:
    from .email import EmailApi

# The pages need no script; an e-mail's HTML (in srcdoc, which inherits this policy) may style
# itself and show inline images, nothing more.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'"

# A client's contentType goes into a header only when it is a plain MIME type.
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*$")

_STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
.Failed { color: #a4262c; font-weight: 600; }
iframe { width: 100%; height: 28rem; border: 1px solid #ccc; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .8rem; }
dt { font-weight: 600; } dd { margin: 0 0 .4rem 0; }
"""


def _page(title: str, body: str, status: int = 200) -> Response:
    document = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return Response(
        status,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff",
        },
        raw=document.encode("utf-8"),
    )


def _addresses(entries: list[dict]) -> str:
    return ", ".join(
        escape(f"{e['displayName']} <{e['address']}>" if e.get("displayName") else e["address"])
        for e in entries
    )


def _link(message_id: str) -> str:
    return "/_emulator/inbox/" + quote(message_id, safe="")


def inbox_page(api: EmailApi) -> Response:
    messages = api.messages()
    rows = "".join(
        "<tr>"
        f"<td>{escape(m['receivedAt'])}</td>"
        f"<td>{escape(m['senderAddress'])}</td>"
        f"<td>{_addresses(m['to'] + m['cc'] + m['bcc'])}</td>"
        f"<td><a href='{escape(_link(m['id']))}'>{escape(m['subject'])}</a></td>"
        f"<td class='{escape(m['status'])}'>{escape(m['status'])}</td>"
        "</tr>"
        for m in messages
    )
    table = (
        "<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th>"
        f"<th>Status</th></tr></thead><tbody>{rows}</tbody></table>"
        if messages
        else "<p>No e-mail received yet.</p>"
    )
    return _page("Emulator inbox", f"<h1>Emulator inbox</h1>{table}")


def message_page(api: EmailApi, message_id: str) -> Response:
    message = api.message(message_id)
    if message is None:
        return _page(
            "Not found",
            "<h1>No such e-mail</h1><p><a href='/_emulator/inbox'>Back to the inbox</a></p>",
            404,
        )
    fields = [
        ("From", escape(message["senderAddress"])),
        ("To", _addresses(message["to"])),
        ("Cc", _addresses(message["cc"])),
        ("Bcc", _addresses(message["bcc"])),
        ("Reply to", _addresses(message["replyTo"])),
        ("Received", escape(message["receivedAt"])),
        ("Operation", escape(message["operationId"])),
        ("Status", escape(message["status"])),
    ]
    if message["error"]:
        error = message["error"]
        fields.append(("Error", escape(f"{error['code']}: {error['message']}")))
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields if value)
    parts = [
        "<p><a href='/_emulator/inbox'>Back to the inbox</a></p>",
        f"<h1>{escape(message['subject'])}</h1><dl>{details}</dl>",
    ]
    if message["html"]:
        # sandbox without allow-scripts or allow-same-origin: the e-mail runs nothing and reads
        # nothing of this origin.
        parts.append(
            f"<h2>HTML</h2><iframe sandbox='' title='HTML body' "
            f"srcdoc='{escape(message['html'], quote=True)}'></iframe>"
        )
    if message["plainText"]:
        parts.append(f"<h2>Text</h2><pre>{escape(message['plainText'])}</pre>")
    if message["attachments"]:
        base = _link(message["id"]).replace("/inbox/", "/emails/", 1)
        items = "".join(
            f"<li><a href='{escape(base)}/attachments/{n}'>{escape(a['name'])}</a> "
            f"({escape(a['contentType'])}, {a['size']} bytes)</li>"
            for n, a in enumerate(message["attachments"])
        )
        parts.append(f"<h2>Attachments</h2><ul>{items}</ul>")
    return _page(message["subject"], "".join(parts))


def attachment_response(api: EmailApi, message_id: str, index: int) -> Response | None:
    found = api.attachment(message_id, index)
    if found is None:
        return None
    name, content_type, content = found
    if not _MIME.match(content_type):
        content_type = "application/octet-stream"
    return Response(
        200,
        headers={
            "Content-Type": content_type,
            # Always a download, never rendered on the emulator's origin.
            "Content-Disposition": "attachment; filename*=UTF-8''" + quote(name, safe=""),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
        raw=content,
    )
