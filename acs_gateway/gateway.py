"""The gateway: the portal's ACS operations, each call recorded as an Attempt."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, overload

from azure.communication.identity import CommunicationUserIdentifier
from azure.communication.rooms import RoomParticipant, UnknownIdentifier
from azure.core.exceptions import (
    AzureError,
)

from acs_gateway.clients import (
    REPEATABILITY_OPTION,
    configuration,
    embedded_emulator,
    identity_client,
    rooms_client,
)
from acs_gateway.errors import AcsError, _request_id, map_error
from acs_gateway.records import AcsRoom, Attempt

# --------------------------------------------------------------------------- gateway


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _room(sdk_room: Any) -> AcsRoom:
    return AcsRoom(
        id=str(sdk_room.id),
        created_at=_parse_time(sdk_room.created_at),
        valid_from=_parse_time(sdk_room.valid_from),
        valid_until=_parse_time(sdk_room.valid_until),
        pstn_dial_out_enabled=bool(sdk_room.pstn_dial_out_enabled),
    )


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("ACS times must be timezone-aware")
    return value.astimezone(UTC)


def _role(role: Any) -> str:
    return str(getattr(role, "value", role))


_DONE = object()


class _Call:
    """Times one HTTP exchange and turns its outcome into an Attempt (and AcsError on failure)."""

    def __init__(self, gateway: AcsGateway, operation: str, on_attempt) -> None:
        self.gateway = gateway
        self.operation = operation
        self.on_attempt = on_attempt
        self.headers: Any = None
        self.status: int | None = None

    def hook(self, pipeline_response) -> None:
        self.status = pipeline_response.http_response.status_code
        self.headers = pipeline_response.http_response.headers

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an SDK method with this call's response hook attached."""
        return self._timed(lambda: fn(*args, raw_response_hook=self.hook, **kwargs))

    def next_page(self, pages: Iterator) -> Any:
        """Fetch the next page of a pager built with this call's hook; _DONE at the end (no
        request is made then, so no attempt is recorded)."""
        return self._timed(lambda: next(pages, _DONE))

    def _timed(self, thunk: Callable[[], Any]) -> Any:
        self.status = self.headers = None
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            result = thunk()
        except AzureError as exc:
            error = map_error(exc, self.operation)
            error.attempt = self._record(started_at, started, error)
            raise error from exc
        except Exception as exc:
            # A bug on our side, not an ACS answer: record it, but let it surface unchanged.
            self._record(started_at, started, AcsError(str(exc), code=type(exc).__name__))
            raise
        if result is not _DONE:
            self._record(started_at, started, None)
        return result

    def _record(self, started_at: datetime, started: float, error: AcsError | None) -> Attempt:
        attempt = Attempt(
            operation=self.operation,
            # An error raised after a response arrived (say, an undecodable body) keeps its status.
            status=(error.status if error else None) or self.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            request_id=(error.request_id if error else None) or _request_id(self.headers),
            started_at=started_at,
        )
        for callback in (self.gateway.on_attempt, self.on_attempt):
            if callback is not None:
                callback(attempt)
        return attempt


class AcsGateway:
    """Thin, synchronous facade over the Rooms and Identity SDKs returning plain values.

    Attempts: every HTTP exchange (one per call; one per page for the list_* iterators) produces an
    `Attempt(operation, status, duration_ms, error_code, error_message, request_id, started_at)`,
    passed to the gateway-wide `on_attempt` callback given at construction and to the per-call
    `on_attempt=` keyword every method accepts. A failure raises an AcsError whose `.attempt` is
    that same record. The gateway does not retry (retry_total=0): the caller decides, using
    `AcsError.transient` and `.retry_after`.
    """

    def __init__(
        self,
        connection_string: str = "",
        *,
        ca_bundle: str = "",
        app: Callable | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        retry_total: int = 0,
        **client_kwargs: Any,
    ) -> None:
        self.on_attempt = on_attempt
        client_kwargs["retry_total"] = retry_total
        # Bounded socket waits, so a hung ACS turns into AcsUnavailable instead of a stuck worker.
        client_kwargs.setdefault("connection_timeout", 10)
        client_kwargs.setdefault("read_timeout", 30)
        self.rooms = rooms_client(connection_string, ca_bundle=ca_bundle, app=app, **client_kwargs)
        self.identity = identity_client(
            connection_string, ca_bundle=ca_bundle, app=app, **client_kwargs
        )

    def close(self) -> None:
        self.rooms.close()
        # The sync identity client has no close(); its generated client does.
        self.identity._identity_service_client.close()

    def _call(self, operation: str, on_attempt) -> _Call:
        return _Call(self, operation, on_attempt)

    # -- rooms

    def create_room(
        self,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        pstn_dial_out_enabled: bool = False,
        participants: dict[str, str] | None = None,
        repeatability_request_id: str | None = None,
        repeatability_first_sent: datetime | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> AcsRoom:
        """Create a room. Pass the stored repeatability id and first-sent time when retrying, so
        ACS answers with the room it already made instead of making a second one. ACS keeps
        ids for 5 minutes: an older first-sent time is refused (412, AcsInvalidRequest)."""
        kwargs: dict[str, Any] = {}
        if repeatability_request_id:
            first_sent = repeatability_first_sent or datetime.now(UTC)
            kwargs[REPEATABILITY_OPTION] = (repeatability_request_id, _utc(first_sent))
        # The SDK only reads .raw_id when serialising, so the raw id travels verbatim.
        sdk_participants = [
            RoomParticipant(communication_identifier=UnknownIdentifier(raw_id), role=_role(role))
            for raw_id, role in (participants or {}).items()
        ]
        room = self._call("create_room", on_attempt).run(
            self.rooms.create_room,
            valid_from=_utc(valid_from),
            valid_until=_utc(valid_until),
            pstn_dial_out_enabled=pstn_dial_out_enabled,
            participants=sdk_participants or None,
            **kwargs,
        )
        return _room(room)

    def get_room(self, room_id: str, *, on_attempt=None) -> AcsRoom:
        return _room(self._call("get_room", on_attempt).run(self.rooms.get_room, room_id))

    def update_room(
        self,
        room_id: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        pstn_dial_out_enabled: bool | None = None,
        on_attempt=None,
    ) -> AcsRoom:
        """Merge-patch a room; None leaves a field unchanged (ACS treats null as 'no change')."""
        room = self._call("update_room", on_attempt).run(
            self.rooms.update_room,
            room_id=room_id,
            valid_from=_utc(valid_from),
            valid_until=_utc(valid_until),
            pstn_dial_out_enabled=pstn_dial_out_enabled,
        )
        return _room(room)

    def delete_room(self, room_id: str, *, on_attempt=None) -> None:
        self._call("delete_room", on_attempt).run(self.rooms.delete_room, room_id)

    def _pages(self, operation: str, on_attempt, make_pager: Callable[..., Any]) -> Iterator:
        call = self._call(operation, on_attempt)
        pages = make_pager(raw_response_hook=call.hook).by_page()
        while (page := call.next_page(pages)) is not _DONE:
            yield from page

    def list_rooms(self, *, on_attempt=None) -> Iterator[AcsRoom]:
        """All rooms, fetched lazily page by page (one Attempt per page)."""
        for room in self._pages("list_rooms", on_attempt, self.rooms.list_rooms):
            yield _room(room)

    def list_participants(self, room_id: str, *, on_attempt=None) -> dict[str, str]:
        return {
            p.communication_identifier.raw_id: _role(p.role)
            for p in self._pages(
                "list_participants",
                on_attempt,
                lambda **kw: self.rooms.list_participants(room_id, **kw),
            )
        }

    def update_participants(
        self,
        room_id: str,
        *,
        upserts: dict[str, str] | None = None,
        removals: Iterable[str] = (),
        on_attempt=None,
    ) -> None:
        """Add/update roles and remove participants in ONE merge-patch (null removes)."""
        body: dict[str, Any] = {
            raw_id: {"role": _role(role)} for raw_id, role in (upserts or {}).items()
        }
        for raw_id in removals:
            body.setdefault(raw_id, None)
        if not body:
            return
        # RoomsClient can only send upserts or removals per call; its generated operation sends
        # any merge-patch body through the same pipeline (signing, errors).
        operation = self.rooms._rooms_service_client.participants.update
        self._call("update_participants", on_attempt).run(
            operation, room_id=room_id, update_participants_request={"participants": body}
        )

    # -- identity

    def create_user(
        self,
        *,
        repeatability_request_id: str | None = None,
        repeatability_first_sent: datetime | None = None,
        on_attempt=None,
    ) -> str:
        """Create an ACS user. As with create_room, send the stored repeatability id and
        first-sent time on every retry: within 5 minutes ACS answers with the user the first
        request made instead of making another. The Identity SDK adds no such headers itself;
        create_user passes `headers=` through to the request it builds."""
        kwargs: dict[str, Any] = {}
        if repeatability_request_id:
            first_sent = _utc(repeatability_first_sent or datetime.now(UTC))
            kwargs["headers"] = {
                "Repeatability-Request-ID": repeatability_request_id,
                "Repeatability-First-Sent": format_datetime(first_sent, usegmt=True),
            }
        user = self._call("create_user", on_attempt).run(self.identity.create_user, **kwargs)
        return user.raw_id

    def delete_user(self, raw_id: str, *, on_attempt=None) -> None:
        user = CommunicationUserIdentifier(raw_id, raw_id=raw_id)
        self._call("delete_user", on_attempt).run(self.identity.delete_user, user)

    def issue_token(
        self, raw_id: str, scopes: Iterable[str], minutes: int = 1440, *, on_attempt=None
    ) -> tuple[str, datetime]:
        user = CommunicationUserIdentifier(raw_id, raw_id=raw_id)
        token = self._call("issue_token", on_attempt).run(
            self.identity.get_token,
            user,
            [str(getattr(s, "value", s)) for s in scopes],
            token_expires_in=timedelta(minutes=minutes),
        )
        return token.token, _parse_time(token.expires_on)

    def revoke_tokens(self, raw_id: str, *, on_attempt=None) -> None:
        user = CommunicationUserIdentifier(raw_id, raw_id=raw_id)
        self._call("revoke_tokens", on_attempt).run(self.identity.revoke_tokens, user)


_gateway_lock = threading.Lock()
_gateways: dict[tuple[str, str, str, str], AcsGateway] = {}


def get_gateway() -> AcsGateway:
    """The process-wide gateway for the current settings (ACS_CONNECTION_STRING or, keyless,
    ACS_ENDPOINT; ACS_CA_BUNDLE, ACS_EMULATOR_STATE); one per distinct configuration, so
    override_settings in tests works."""
    key = configuration()
    with _gateway_lock:
        gateway = _gateways.get(key)
        if gateway is None:
            connection_string, endpoint, ca_bundle, state = key
            app = None if connection_string or endpoint else embedded_emulator(state or None)
            gateway = _gateways[key] = AcsGateway(
                connection_string, ca_bundle=ca_bundle, app=app, endpoint=endpoint
            )
        return gateway
