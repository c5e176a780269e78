"""What every service shares: permission checks and the errors views turn into messages."""

from django.core.exceptions import PermissionDenied


class Conflict(Exception):
    """The object changed since the editor loaded it; `current` is what it holds now."""

    def __init__(self, message: str, *, current=None, changed: dict | None = None):
        super().__init__(message)
        self.message = message
        self.current = current
        self.changed = changed or {}


def require(actor, permission: str, what: str) -> None:
    """Raise PermissionDenied naming the permission unless the actor holds it."""
    if actor is None or not actor.is_active or not actor.has_perm(permission):
        raise PermissionDenied(f"You may not {what}: it needs the permission “{permission}”.")
