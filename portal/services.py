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
TOO_LONG = "{field} is longer than {limit} characters (it has {length}); shorten it."
_ALLOWED_IN_MULTILINE = {"\n", "\r", "\t"}


def is_control(char: str) -> bool:
    """A C0 or C1 control character, DEL included (tab and line breaks are controls too)."""
    return ord(char) < 32 or 0x7F <= ord(char) < 0xA0


def column_length(model, field_name: str) -> int | None:
    """The max_length of a model's text column: forms and services derive their limits from it."""
    return model._meta.get_field(field_name).max_length


def check_text(
    value: str, field: str, label: str, *, multiline: bool = False, max_length: int | None = None
) -> str:
    """Refuse control characters (PostgreSQL cannot store NUL, and none belongs in a name) and
    text longer than its column (PostgreSQL would refuse it with an error, not a message)."""
    allowed = _ALLOWED_IN_MULTILINE if multiline else set()
    if any(is_control(char) and char not in allowed for char in value):
        raise ValidationError({field: CONTROL_CHARACTERS.format(field=label)})
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            {field: TOO_LONG.format(field=label, limit=max_length, length=len(value))}
        )
    return value


def search_text(value: str | None, *, max_length: int | None = 200) -> str:
    """What a search box may send to the database: control characters become spaces.

    A search compares text, so NUL (which PostgreSQL cannot hold, even in a comparison) and the
    other controls, which no stored name contains, are dropped rather than refused.
    """
    value = value or ""
    if max_length is not None:
        value = value[:max_length]
    return "".join(" " if is_control(char) else char for char in value).strip()
