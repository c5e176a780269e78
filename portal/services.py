"""What every service shares: permission checks and the errors views turn into messages."""

from django.core.exceptions import PermissionDenied, ValidationError


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


CONTROL_CHARACTERS = "{field} contains invisible control characters; remove them and try again."
_ALLOWED_IN_MULTILINE = {"\n", "\r", "\t"}


def check_text(value: str, field: str, label: str, *, multiline: bool = False) -> str:
    """Refuse control characters: PostgreSQL cannot store NUL, and none belongs in a name."""
    allowed = _ALLOWED_IN_MULTILINE if multiline else set()
    if any((ord(char) < 32 or 0x7F <= ord(char) < 0xA0) and char not in allowed for char in value):
        raise ValidationError({field: CONTROL_CHARACTERS.format(field=label)})
    return value
