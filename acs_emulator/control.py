"""The control API under /_emulator/ (no HMAC): request log, reset, faults, tokens, health, and
the received e-mails (JSON, the HTML inbox, bad addresses)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import unquote

from . import inbox
from .messages import Request, Response

if TYPE_CHECKING:
    from .app import Emulator


def _error(status: int, message: str) -> Response:
    return Response(
        status,
        {"error": {"code": "BadRequest" if status == 400 else "NotFound", "message": message}},
    )


def handle(emu: Emulator, req: Request) -> Response:
    path = req.path.rstrip("/")
    method = req.method
    if path == "/_emulator/health" and method == "GET":
        return Response(200, {"status": "ok"})
    if path == "/_emulator/requests" and method == "GET":
        return Response(200, emu.requests())
    if path == "/_emulator/reset" and method == "POST":
        emu.reset()
        return Response(200, {"status": "reset"})
    if path == "/_emulator/faults" and method == "GET":
        return Response(200, emu.current_faults().public())
    if path == "/_emulator/faults" and method in ("POST", "PUT"):
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            return _error(400, "The body must be a JSON object.")
        if not isinstance(data, dict):
            return _error(400, "The body must be a JSON object.")
        try:
            if data:
                emu.set_faults(**data)
            else:
                emu.clear_faults()
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return Response(200, emu.current_faults().public())
    if path.startswith("/_emulator/tokens/") and method == "GET":
        # The raw path keeps the token intact; JWT characters need no decoding anyway.
        token = unquote(req.raw_path.rstrip("/").rsplit("/", 1)[-1])
        return Response(200, emu.token_status(token))
    if path.startswith(("/_emulator/emails", "/_emulator/inbox")):
        return _email(emu, req, path, method)
    return _error(404, f"No control endpoint {method} {req.path}.")


def _json_object(req: Request) -> dict | None:
    try:
        data = json.loads(req.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _email(emu: Emulator, req: Request, path: str, method: str) -> Response:
    """The e-mail control calls; the ids in paths are the emulator's own message ids."""
    api = emu.email
    parts = path.split("/")[2:]  # ["emails", ...] or ["inbox", ...]
    if parts == ["inbox"] and method == "GET":
        return inbox.inbox_page(api)
    if len(parts) == 2 and parts[0] == "inbox" and method == "GET":
        return inbox.message_page(api, parts[1])
    if parts == ["emails"] and method == "GET":
        return Response(200, api.messages())
    if parts == ["emails"] and method == "DELETE":
        api.clear()
        return Response(200, {"status": "cleared"})
    if parts == ["emails", "bad-addresses"]:
        if method == "GET":
            return Response(200, {"badAddresses": api.bad_addresses()})
        if method == "DELETE":
            api.clear_bad_addresses()
            return Response(200, {"badAddresses": []})
        if method == "POST":
            data = _json_object(req)
            if data is None:
                return _error(400, 'The body must be a JSON object: {"address": "..."}.')
            try:
                api.mark_bad_address(data.get("address"))
            except ValueError as exc:
                return _error(400, str(exc))
            return Response(200, {"badAddresses": api.bad_addresses()})
    if parts == ["emails", "settings"] and method in ("POST", "PUT"):
        data = _json_object(req)
        if data is None or set(data) != {"retry_after"}:
            return _error(400, 'The body must be a JSON object: {"retry_after": seconds}.')
        try:
            api.set_retry_after(data["retry_after"])
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return Response(200, {"retry_after": api.retry_after()})
    if len(parts) == 2 and parts[0] == "emails" and method == "GET":
        message = api.message(parts[1])
        if message is None:
            return _error(404, f"No e-mail {parts[1]}.")
        return Response(200, message)
    if len(parts) == 4 and parts[0] == "emails" and parts[2] == "attachments" and method == "GET":
        index = int(parts[3]) if parts[3].isdigit() else -1
        response = inbox.attachment_response(api, parts[1], index)
        if response is None:
            return _error(404, f"No attachment {parts[3]} of e-mail {parts[1]}.")
        return response
    return _error(404, f"No control endpoint {method} {req.path}.")
