"""Which kinds of object the outbox pushes, and the periodic jobs run_worker runs: each app
registers its own in AppConfig.ready().

The engine knows no app: it finds the model and the push function of a kind here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import models


@dataclass(frozen=True)
class Pusher:
    kind: str
    model: type[models.Model]
    # push(obj, lease) makes ACS match the object; returns "pushed", or "deleted" once the
    # object (a confirmed tombstone) and its outbox row are gone. Raises AcsError on failure.
    push: Callable
    # retry_by(book) -> the latest time for the next try, or None: a create whose answer was
    # lost must be retried while ACS still replays it.
    retry_by: Callable[[dict], datetime | None] | None = None
    # The task queue's priority of this kind's pushes (django.tasks: higher runs first). A
    # kind whose push waits long on its service (an e-mail's send) goes below the others, so
    # a room's change never queues behind a batch of e-mails.
    priority: int = 0


_pushers: dict[str, Pusher] = {}


def register(
    kind: str, *, model: type[models.Model], push: Callable, retry_by=None, priority: int = 0
) -> None:
    _pushers[kind] = Pusher(kind=kind, model=model, push=push, retry_by=retry_by, priority=priority)


def pusher(kind: str) -> Pusher:
    try:
        return _pushers[kind]
    except KeyError:
        raise LookupError(f"No pusher registered for {kind!r}") from None


def kinds() -> list[str]:
    return sorted(_pushers)


@dataclass(frozen=True)
class Periodic:
    """A job run_worker's housekeeper runs every `every` seconds (an app's own scheduler)."""

    name: str
    every: float
    run: Callable[[], object]


_periodic: dict[str, Periodic] = {}


def every(name: str, seconds: float, run: Callable[[], object]) -> None:
    _periodic[name] = Periodic(name=name, every=seconds, run=run)


def periodic() -> list[Periodic]:
    return [_periodic[name] for name in sorted(_periodic)]
