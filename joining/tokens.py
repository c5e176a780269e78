"""Join-only ACS tokens for a join link's holder: issued inside the room's window, kept nowhere.

Staff-issued tokens (identities.services.identity_issue_token) record their scopes and expiry
on the identity; a join token records nothing but an audit event without the token, so the
identity page keeps showing what staff issued.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

import acs_gateway as acs
from joining.models import JoinLink
from outbox.engine import outcome_of
from portal import audit
from rooms.rules import WindowState, window_state
from rooms.sync import acs_state_of

JOIN_SCOPES = ("voip.join",)
# ACS issues tokens for 60 to 1440 minutes.
MIN_MINUTES, MAX_MINUTES = 60, 1440
# Hosts of ACS resources in Azure's clouds; any other endpoint is an emulator (ours, served).
_ACS_HOST_SUFFIXES = (".communication.azure.com", ".communication.azure.us")

NOT_OPEN = "The room's call has not opened yet; come back when it opens."
ENDED = "The room's call has ended."
SETTING_UP = "The room is still being set up; try again in a minute."
ACS_FAILED = "The call service did not answer as expected; try again in a minute."


class JoinRefused(Exception):
    """A token cannot be issued now; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class JoinToken:
    token: str
    expires_on: datetime
    user_id: str
    room_id: str
    emulated: bool


def on_emulator() -> bool:
    """True when the portal's ACS is an emulator: the embedded one, or one served elsewhere."""
    endpoint = acs.configured_endpoint()
    if not endpoint:
        return True
    host = (urlsplit(endpoint).hostname or "").lower()
    return not host.endswith(_ACS_HOST_SUFFIXES)


def token_minutes(valid_until: datetime, now: datetime) -> int:
    """Minutes until the room ends, within what ACS accepts: under an hour left still gets 60."""
    left = math.ceil((valid_until - now).total_seconds() / 60)
    return max(MIN_MINUTES, min(MAX_MINUTES, left))


def join_token_issue(*, link: JoinLink, now: datetime | None = None) -> JoinToken:
    """Issue the link's holder a voip.join token for the room's call, now that it is open."""
    now = now or timezone.now()
    participant = link.participant
    room, identity = participant.room, participant.identity
    state = window_state(room.valid_from, room.valid_until, now)
    if state == WindowState.UPCOMING:
        raise JoinRefused(NOT_OPEN, 403)
    if state == WindowState.ENDED:
        raise JoinRefused(ENDED, 403)
    # ACS must hold the room with this person in it (what its last confirmed push said), or
    # the call would refuse them: a new room or person is pushed within seconds.
    in_acs = acs_state_of(room).get("participants") or {}
    if not room.acs_id or not identity.raw_id or identity.raw_id not in in_acs:
        raise JoinRefused(SETTING_UP, 409)
    attempts: list = []
    try:
        token, expires_on = acs.get_gateway().issue_token(
            identity.raw_id,
            list(JOIN_SCOPES),
            token_minutes(room.valid_until, now),
            on_attempt=attempts.append,
        )
    except acs.AcsError as exc:
        with transaction.atomic():
            audit.append(
                [
                    audit.event(
                        action="acs.join_token.issue_failed",
                        target=participant,
                        room_id=room.pk,
                        acs_outcome=outcome_of(attempts[-1]) if attempts else {},
                    )
                ]
            )
        raise JoinRefused(ACS_FAILED, 503) from exc
    with transaction.atomic():
        audit.append(
            [
                audit.event(
                    action="portal.join_token.issued",
                    target=participant,
                    room_id=room.pk,
                    changes={
                        "scopes": {"before": None, "after": list(JOIN_SCOPES)},
                        "expires_on": {"before": None, "after": expires_on},
                    },
                    acs_outcome=outcome_of(attempts[-1]) if attempts else {},
                )
            ]
        )
    return JoinToken(
        token=token,
        expires_on=expires_on,
        user_id=identity.raw_id,
        room_id=room.acs_id,
        emulated=on_emulator(),
    )
