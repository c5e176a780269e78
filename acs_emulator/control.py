"""The control API under /_emulator/ (no HMAC): request log, reset, faults, tokens, health."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import unquote

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
    return _error(404, f"No control endpoint {method} {req.path}.")
