"""Tests' window into the outbox: read an object's sync row, or set it as a situation needs."""

import dataclasses

from django.utils import timezone

from outbox import registry
from outbox.engine import sweep
from outbox.models import Entry, SyncState

# Entry's fields a test may set on an object's row (the rest of a factory's kwargs are domain).
SYNC_FIELDS = {
    "state",
    "last_error",
    "attempts",
    "next_try_at",
    "marked_at",
    "generation",
    "confirmed_generation",
    "holder",
    "held_until",
    "confirmed_at",
    "acs",
}


def kind_of(obj) -> str:
    return {"Room": "room", "Identity": "identity"}[type(obj).__name__]


def rows(obj):
    return Entry.objects.filter(kind=kind_of(obj), object_id=obj.pk)


def sync_row(obj) -> Entry:
    """The object's outbox row, read now."""
    return rows(obj).get()


def book(obj) -> dict:
    """The object's bookkeeping (what ACS confirmed, its create's request id, …), read now."""
    return sync_row(obj).acs


def set_sync(obj, **fields) -> None:
    """Put the object's outbox row in a state (update(): no signal marks it again)."""
    assert rows(obj).update(**fields) == 1


def set_book(obj, **changes) -> None:
    set_sync(obj, acs={**book(obj), **changes})


def split(fields: dict) -> tuple[dict, dict]:
    """A factory's kwargs as (the domain row's, the outbox row's)."""
    sync = {name: value for name, value in fields.items() if name in SYNC_FIELDS}
    return {name: value for name, value in fields.items() if name not in SYNC_FIELDS}, sync


def let_retries_come() -> int:
    """Stand in for waiting: make every unconfirmed push due now, and sweep (enqueue them)."""
    Entry.objects.filter(state__in=[SyncState.PENDING, SyncState.FAILED]).update(
        next_try_at=timezone.now()
    )
    return sweep()


def replace_pusher(monkeypatch, kind: str, push) -> None:
    """Push `kind` with `push(obj, lease)` for this test (the registry holds the function)."""
    monkeypatch.setitem(
        registry._pushers, kind, dataclasses.replace(registry.pusher(kind), push=push)
    )
