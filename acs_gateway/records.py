"""What the gateway hands back: an ACS room, and the record of one HTTP exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AcsRoom:
    id: str
    created_at: datetime
    valid_from: datetime
    valid_until: datetime
    pstn_dial_out_enabled: bool


# What each gateway operation did, as the history names it.
VERBS = {
    "create_room": "created",
    "update_room": "updated",
    "delete_room": "deleted",
    "get_room": "read",
    "list_rooms": "listed",
    "update_participants": "participants_pushed",
    "list_participants": "participants_read",
    "create_user": "created",
    "delete_user": "deleted",
}


@dataclass(frozen=True)
class Attempt:
    """One HTTP exchange with ACS, as the portal stores it (status None: no response arrived)."""

    operation: str
    status: int | None
    duration_ms: float
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    started_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400

    def audit_action(self, kind: str) -> str:
        """The history's name for this exchange: acs.<kind>.<verb>, suffixed _failed unless ok
        (acs.room.created, acs.identity.deleted_failed)."""
        verb = VERBS.get(self.operation, self.operation)
        return f"acs.{kind}.{verb}" + ("" if self.ok else "_failed")
