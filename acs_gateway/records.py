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
