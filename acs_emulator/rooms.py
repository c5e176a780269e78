"""Rooms API handlers: rooms, participants and paging; create is repeatable."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from urllib.parse import quote

from . import errors
from .messages import Request, Response
from .repeatability import Repeatable
from .store import Store
from .timeutil import TICKS_PER_DAY, format_ticks, parse_rfc3339, to_ticks

API_VERSIONS = ("2024-04-15", "2025-03-13")
SUPPORTED_HEADER = ", ".join(API_VERSIONS)
MAX_RANGE = 180 * TICKS_PER_DAY
# Chosen behaviour (service unknown): an expired room stays readable by id for a day.
EXPIRED_GRACE = 1 * TICKS_PER_DAY

ROLES = ("Presenter", "Attendee", "Consumer", "Collaborator")
ROLE_MESSAGE = (
    "Invalid participant role. The valid roles are: Presenter, Attendee, Consumer, Collaborator."
)
ACS_PREFIXES = ("8:acs:", "8:spool:", "8:dod-acs:", "8:gcch-acs:")
# Identifier kinds the SDKs recognise but a room does not accept.
OTHER_KNOWN_PREFIXES = (
    "4:",
    "8:orgid:",
    "8:dod:",
    "8:gcch:",
    "8:teamsvisitor:",
    "28:orgid:",
    "28:dod:",
    "28:gcch:",
)
ROOM_ID = re.compile(r"^[0-9]{15,19}$")


def _allowed_roles(api_version: str) -> tuple[str, ...]:
    return ROLES if api_version >= "2025-03-13" else ROLES[:3]


def _encode_cursor(values: list) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_cursor(token: str, kind: str, size: int) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != size
        or values[0] != kind
        or not isinstance(values[-1], int | str)
    ):
        raise errors.rooms_bad_request("Invalid continuation token.")
    return values


def _parse_json(body: bytes, *, empty_ok: bool) -> dict:
    if not body.strip():
        if empty_ok:
            return {}
        raise errors.model_validation("A non-empty request body is required.", "$")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise errors.model_validation("The request body is not valid JSON.", "$") from None
    if not isinstance(data, dict):
        raise errors.model_validation(
            "The JSON value could not be converted to the request model. Path: $.", "$"
        )
    return data


def _time_field(data: dict, name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    ticks = parse_rfc3339(value)
    if ticks is None:
        raise errors.model_validation(
            f"The JSON value could not be converted to System.DateTimeOffset. Path: $.{name}.",
            f"$.{name}",
        )
    return ticks


def _bool_field(data: dict, name: str) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise errors.model_validation(
            f"The JSON value could not be converted to System.Boolean. Path: $.{name}.",
            f"$.{name}",
        )
    return value


def _participants_field(data: dict, api_version: str) -> dict[str, str | None]:
    """rawId -> canonical role, or None for a removal; raises the recorded model errors."""
    value = data.get("participants")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.model_validation(
            "The JSON value could not be converted to the participants map. Path: $.participants.",
            "$.participants",
        )
    allowed = {r.lower(): r for r in _allowed_roles(api_version)}
    out: dict[str, str | None] = {}
    for raw_id, props in value.items():
        if props is None:
            out[raw_id] = None
            continue
        target = f"$.participants.{raw_id}.role"
        if not isinstance(props, dict):
            raise errors.model_validation(ROLE_MESSAGE, target)
        role = props.get("role")
        if role is None:
            # Chosen behaviour: a missing role means the documented default.
            out[raw_id] = "Attendee"
            continue
        canonical = allowed.get(role.lower()) if isinstance(role, str) else None
        if canonical is None:
            raise errors.model_validation(ROLE_MESSAGE, target)
        out[raw_id] = canonical
    return out


def identifier_kind(raw_id: str) -> str:
    """'acs' for an ACS user, 'other' for a known non-ACS kind, 'malformed' otherwise."""
    for prefix in ACS_PREFIXES:
        if raw_id.startswith(prefix) and len(raw_id) > len(prefix):
            return "acs"
    if raw_id.startswith(OTHER_KNOWN_PREFIXES):
        return "other"
    return "malformed"


def _check_identifiers_for_create(participants: dict[str, str | None]) -> None:
    for raw_id in participants:
        kind = identifier_kind(raw_id)
        if kind == "malformed":
            raise errors.rooms_bad_request("Invalid format for communication identifier.")
        if kind == "other":
            raise errors.rooms_bad_request(f"Communication identifier {raw_id} is not supported.")


def _check_identifiers_for_patch(participants: dict[str, str | None]) -> None:
    for raw_id in participants:
        if identifier_kind(raw_id) != "acs":
            raise errors.rooms_bad_request(f"Communication identifier {raw_id} is not supported.")


def _validate_range(valid_from: int, valid_until: int, now: int) -> None:
    """The recorded time-range rules, in the order the service reports them."""
    if valid_until < now:
        raise errors.model_validation("The time range end is in the past.", "ValidUntil")
    if valid_from > now + MAX_RANGE:
        raise errors.model_validation(
            "Value is incorrect or more than 180 days in the future.", "ValidFrom"
        )
    if valid_until < valid_from or valid_until - valid_from > MAX_RANGE:
        raise errors.model_validation(
            "The time range is incorrect, or larger than 180 days.", "ValidUntil"
        )


def _room_body(row) -> dict:
    return {
        "id": row["id"],
        "createdAt": format_ticks(row["created"]),
        "validFrom": format_ticks(row["valid_from"]),
        "validUntil": format_ticks(row["valid_until"]),
        "pstnDialOutEnabled": bool(row["pstn"]),
    }


class RoomsApi:
    """The seven Rooms operations over a Store."""

    def __init__(self, store: Store, now, page_size: int = 50):
        self.store = store
        self.now = now  # () -> aware UTC datetime
        self.page_size = page_size
        self.repeatable = Repeatable(store, now, "rooms", error_code_header=True)

    def _now_ticks(self) -> int:
        return to_ticks(self.now())

    @staticmethod
    def check_room_id(room_id: str) -> None:
        if not ROOM_ID.match(room_id):
            raise errors.rooms_bad_request("Invalid room ID length.")

    def _live_room(self, conn, room_id: str, now: int):
        row = conn.execute("SELECT * FROM rooms WHERE id = ?", (room_id,)).fetchone()
        if row is None or row["valid_until"] + EXPIRED_GRACE < now:
            raise errors.rooms_not_found()
        return row

    # --- create -------------------------------------------------------------------------
    def create(self, req: Request) -> Response:
        return self.repeatable.create(req, lambda conn, now: self._create_room(conn, req, now))

    def _create_room(self, conn, req: Request, now: int) -> Response:
        data = _parse_json(req.body, empty_ok=True)
        valid_from = _time_field(data, "validFrom")
        valid_until = _time_field(data, "validUntil")
        pstn = _bool_field(data, "pstnDialOutEnabled")
        assert req.api_version is not None  # the dispatcher sets it before any handler runs
        participants = _participants_field(data, req.api_version)
        valid_from = now if valid_from is None else valid_from
        # validFrom + 180 days: equal to the spec's "now + 180 days" when validFrom defaults, and a
        # client-sent validFrom of "now" (already a few ms old on arrival) stays within range.
        valid_until = valid_from + MAX_RANGE if valid_until is None else valid_until
        _validate_range(valid_from, valid_until, now)
        _check_identifiers_for_create(participants)

        conn.execute("DELETE FROM rooms WHERE valid_until < ?", (now - EXPIRED_GRACE,))
        conn.execute("DELETE FROM participants WHERE room_id NOT IN (SELECT id FROM rooms)")
        while True:
            room_id = str(secrets.randbelow(10**17 - 10**15) + 10**15)
            exists = conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room_id,)).fetchone()
            if not exists:
                break
        conn.execute(
            "INSERT INTO rooms (id, created, valid_from, valid_until, pstn) VALUES (?, ?, ?, ?, ?)",
            (room_id, now, valid_from, valid_until, int(bool(pstn))),
        )
        conn.executemany(
            "INSERT INTO participants (room_id, raw_id, role) VALUES (?, ?, ?)",
            [(room_id, raw_id, role) for raw_id, role in participants.items() if role is not None],
        )
        row = conn.execute("SELECT * FROM rooms WHERE id = ?", (room_id,)).fetchone()
        return Response(201, _room_body(row), {"Location": room_id})

    # --- read / update / delete ----------------------------------------------------------
    def get(self, req: Request, room_id: str) -> Response:
        self.check_room_id(room_id)
        with self.store.read() as conn:
            row = self._live_room(conn, room_id, self._now_ticks())
            return Response(200, _room_body(row))

    def update(self, req: Request, room_id: str) -> Response:
        self.check_room_id(room_id)
        data = _parse_json(req.body, empty_ok=True)
        valid_from = _time_field(data, "validFrom")
        valid_until = _time_field(data, "validUntil")
        pstn = _bool_field(data, "pstnDialOutEnabled")
        with self.store.write() as conn:
            now = self._now_ticks()
            row = self._live_room(conn, room_id, now)
            # Merge-patch as the service does it: null and absent both keep the stored value.
            valid_from = row["valid_from"] if valid_from is None else valid_from
            valid_until = row["valid_until"] if valid_until is None else valid_until
            pstn = bool(row["pstn"]) if pstn is None else pstn
            _validate_range(valid_from, valid_until, now)
            conn.execute(
                "UPDATE rooms SET valid_from = ?, valid_until = ?, pstn = ? WHERE id = ?",
                (valid_from, valid_until, int(pstn), room_id),
            )
            row = conn.execute("SELECT * FROM rooms WHERE id = ?", (room_id,)).fetchone()
            return Response(200, _room_body(row))

    def delete(self, req: Request, room_id: str) -> Response:
        self.check_room_id(room_id)
        with self.store.write() as conn:
            conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,))
            conn.execute("DELETE FROM participants WHERE room_id = ?", (room_id,))
        return Response(204)

    def _next_link(self, req: Request, path: str, cursor: list) -> str:
        token = quote(_encode_cursor(cursor), safe="")
        version = quote(req.api_version or "", safe="")
        return f"{req.base_url}{path}?nextLink={token}&api-version={version}"

    def list_rooms(self, req: Request) -> Response:
        token = req.args.get("nextLink")
        with self.store.read() as conn:
            now = self._now_ticks()
            if token:
                _, created, last_id = _decode_cursor(token, "rooms", 3)
                rows = conn.execute(
                    "SELECT * FROM rooms WHERE valid_until >= ? AND "
                    "(created < ? OR (created = ? AND id < ?)) "
                    "ORDER BY created DESC, id DESC LIMIT ?",
                    (now, created, created, last_id, self.page_size + 1),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM rooms WHERE valid_until >= ? "
                    "ORDER BY created DESC, id DESC LIMIT ?",
                    (now, self.page_size + 1),
                ).fetchall()
        body: dict = {"value": [_room_body(r) for r in rows[: self.page_size]]}
        if len(rows) > self.page_size:
            last = rows[self.page_size - 1]
            body["nextLink"] = self._next_link(
                req, "/rooms", ["rooms", last["created"], last["id"]]
            )
        return Response(200, body)

    # --- participants ---------------------------------------------------------------------
    def list_participants(self, req: Request, room_id: str) -> Response:
        self.check_room_id(room_id)
        token = req.args.get("nextLink")
        after = 0
        if token:
            _, cursor_room, after = _decode_cursor(token, "participants", 3)
            if cursor_room != room_id or not isinstance(after, int):
                raise errors.rooms_bad_request("Invalid continuation token.")
        with self.store.read() as conn:
            self._live_room(conn, room_id, self._now_ticks())
            rows = conn.execute(
                "SELECT seq, raw_id, role FROM participants WHERE room_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (room_id, after, self.page_size + 1),
            ).fetchall()
        body: dict = {
            "value": [{"rawId": r["raw_id"], "role": r["role"]} for r in rows[: self.page_size]]
        }
        if len(rows) > self.page_size:
            path = f"/rooms/{room_id}/participants"
            body["nextLink"] = self._next_link(
                req, path, ["participants", room_id, rows[self.page_size - 1]["seq"]]
            )
        return Response(200, body)

    def update_participants(self, req: Request, room_id: str) -> Response:
        self.check_room_id(room_id)
        data = _parse_json(req.body, empty_ok=False)
        assert req.api_version is not None  # the dispatcher sets it before any handler runs
        participants = _participants_field(data, req.api_version)
        _check_identifiers_for_patch(participants)
        with self.store.write() as conn:
            self._live_room(conn, room_id, self._now_ticks())
            for raw_id, role in participants.items():
                if role is None:
                    conn.execute(
                        "DELETE FROM participants WHERE room_id = ? AND raw_id = ?",
                        (room_id, raw_id),
                    )
                else:
                    conn.execute(
                        "INSERT INTO participants (room_id, raw_id, role) VALUES (?, ?, ?) "
                        "ON CONFLICT (room_id, raw_id) DO UPDATE SET role = excluded.role",
                        (room_id, raw_id, role),
                    )
        return Response(200, {})
