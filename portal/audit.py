"""The one writer of the audit trail: record() appends a scrubbed, hash-chained event."""

import datetime
import decimal
import enum
import re
import uuid
from collections.abc import Iterable, Mapping

from django.db import models, transaction
from django.utils import timezone
from django.utils.duration import duration_iso_string
from django.utils.functional import Promise

from portal.logging import current_request_id
from portal.models import GENESIS_HASH, AuditChainHead, AuditEvent, allow_append

__all__ = ["REDACTED", "append", "diff", "event", "json_safe", "record", "scrub", "snapshot"]

REDACTED = "[redacted]"
SYSTEM_ACTOR = "system"

# `source.entity.verb`, e.g. portal.room.created, acs.room.pushed.
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}$")

# Key names are compared lower-cased without `_` and `-`, so accessToken, access_token and
# ACCESS-TOKEN are one name. A suffix match also catches refresh_token, client_secret, api_key.
_SECRET_NAMES = {"authorization", "connectionstring", "credential", "credentials"}
_SECRET_SUFFIXES = ("token", "secret", "password", "accesskey", "apikey", "connectionstring")
# A JWT anywhere in a string (a bare token, "Bearer eyJ…", an error message quoting one), and a
# connection string's key, which is the secret the HMAC signatures are made with.
_SECRET_VALUE = re.compile(
    r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|accesskey\s*=", re.IGNORECASE
)


def _is_secret_name(key: str) -> bool:
    name = key.lower().replace("_", "").replace("-", "")
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


def json_safe(value):
    """Return value as plain JSON types that hash alike after a SQLite or jsonb round trip."""
    if value is None or isinstance(value, bool | int | str):
        # Enum members (TextChoices) are str/int subclasses: store their plain value.
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    # Floats as text: jsonb rewrites some (1e20 comes back as an int), which would break hashes.
    if isinstance(value, float | decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, models.Model):
        return json_safe(value.pk)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in sorted(value.items(), key=_key)}
    if isinstance(value, set | frozenset):
        return sorted((json_safe(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    # Refuse rather than guess: str() of an arbitrary object may name a memory address or a secret.
    raise TypeError(f"Cannot record a {type(value).__name__} in the audit trail: {value!r}")


def _key(item) -> str:
    return str(item[0])


def scrub(value):
    """Return value with every secret-looking key's value and every token-like string redacted."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _is_secret_name(key) else scrub(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        if _SECRET_VALUE.search(value):
            return REDACTED
        # PostgreSQL text and jsonb cannot hold NUL.
        return value.replace("\x00", "\ufffd")
    return value


def diff(before: Mapping, after: Mapping) -> dict:
    """Return {field: {"before": x, "after": y}} for the fields whose values differ."""
    old, new = json_safe(before), json_safe(after)
    return {
        field: {"before": old.get(field), "after": new.get(field)}
        for field in sorted(old.keys() | new.keys())
        if old.get(field) != new.get(field)
    }


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict:
    """Return the named fields of instance as JSON-safe values, foreign keys as their ids."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if not isinstance(field, models.Field):
            raise ValueError(
                f"{name} is a reverse relation of {type(instance).__name__}, no column"
            )
        values[name] = getattr(instance, field.attname)
    return json_safe(values)


def _lock_chain_head() -> AuditChainHead:
    # FOR UPDATE makes concurrent appenders queue on this one row until the holder commits, so
    # each one reads the hash its predecessor wrote. SQLite ignores it: there every transaction
    # here is BEGIN IMMEDIATE, which takes the database's write lock and is serial already.
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # First event ever, or a test flushed the tables. ON CONFLICT DO NOTHING: of two
        # appenders racing here one inserts, the other waits for it and then locks its row.
        last = AuditEvent.objects.order_by("-pk").only("pk", "hash").first()
        AuditChainHead.objects.bulk_create(
            [
                AuditChainHead(
                    pk=1,
                    hash=last.hash if last else GENESIS_HASH,
                    last_event_id=last.pk if last else None,
                    length=AuditEvent.objects.count(),
                )
            ],
            ignore_conflicts=True,
        )
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def event(
    *,
    action: str,
    target,
    actor=None,
    changes: dict | None = None,
    acs_outcome: dict | None = None,
    room_id: int | None = None,
    request_id: str = "",
    target_type: str | None = None,
    target_id: str | None = None,
    target_label: str | None = None,
) -> AuditEvent:
    """Build one unsaved, unchained event (checked and scrubbed); append() chains and saves it.

    `target` is the model instance the event is about, or None when target_type and target_id
    are given. `actor` is the user who acted, or None for the system (the sync worker).
    """
    if not _ACTION.match(action):
        raise ValueError(f"Audit action {action!r} is not a code like 'portal.room.created'.")
    if target is not None:
        if target.pk is None:
            raise ValueError("record() needs a saved target: save it before recording the event.")
        target_type = target_type or target._meta.label_lower
        target_id = target_id if target_id is not None else str(target.pk)
        target_label = target_label if target_label is not None else str(target)
        if room_id is None:
            room_id = _room_id_of(target)
    if not target_type or target_id is None:
        raise ValueError("record() needs a target instance, or target_type and target_id.")
    for name, value in (("changes", changes), ("acs_outcome", acs_outcome)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"record(): {name} must be a dict, not {type(value).__name__}.")
    return AuditEvent(
        actor_id=actor.pk if actor is not None else None,
        actor_label=actor.get_username() if actor is not None else SYSTEM_ACTOR,
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        target_label=scrub((target_label or "")[:255]),
        room_id=room_id,
        # Converted first, so scrub() walks plain dicts, lists and strings only.
        changes=scrub(json_safe(changes or {})),
        acs_outcome=scrub(json_safe(acs_outcome or {})),
        # The request (or task) that caused the event, unless the caller names another.
        request_id=(request_id or current_request_id())[:64],
    )


def append(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert events built by event(), in order, in one INSERT.

    The chain head stays locked from here until the caller's transaction ends, so every other
    writer of the trail waits from this call to that commit: call it last, after the changes
    the events describe, and once for a batch rather than once per row. Everything the caller
    did before this call does not hold anyone up.
    """
    events = list(events)
    if not events:
        return events
    with transaction.atomic():
        head = _lock_chain_head()
        # Stamped under the lock, so time never runs backwards along the chain.
        now = timezone.now()
        prev = head.hash
        for item in events:
            item.at = now
            item.prev_hash = prev
            item.hash = prev = item.compute_hash()
        with allow_append():
            if len(events) == 1:
                events[0].save(force_insert=True)
            else:
                AuditEvent.objects.bulk_create(events, batch_size=500)
        head.hash = prev
        # bulk_create sets primary keys on PostgreSQL and SQLite; pk order is chain order.
        head.last_event_id = events[-1].pk
        head.length += len(events)
        head.save(update_fields=["hash", "last_event_id", "length"])
    return events


def record(**fields) -> AuditEvent:
    """Append one event to the audit trail, inside the caller's transaction if there is one.

    Takes event()'s arguments. The caller's transaction holds the chain head locked until it
    ends, so call record() last, after the change it describes; for many rows build them with
    event() and append() them together.
    """
    return append([event(**fields)])[0]


def _room_id_of(target) -> int | None:
    """Return the room a target belongs to: itself if it is a room, else its room_id if any."""
    if target._meta.label_lower == "rooms.room":
        return target.pk
    room_id = getattr(target, "room_id", None)
    return room_id if isinstance(room_id, int) else None
