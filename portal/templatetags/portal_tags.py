"""Template helpers every page shares: times shown in the user's zone with the zone named."""

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(value: datetime | None, style: str = "full"):
    """A time in the user's zone, always with the zone named; the UTC instant in `datetime`."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    fmt = {"full": "%a %d %b %Y, %H:%M", "date": "%a %d %b %Y", "time": "%H:%M"}[style]
    utc = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>',
        value.astimezone(UTC).isoformat(timespec="seconds"),
        utc,
        local.strftime(fmt),
        local.tzname(),
    )


@register.filter
def utc(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.simple_tag
def zone_name() -> str:
    return timezone.get_current_timezone_name()


# Wording for actions whose code does not read well on its own.
_ACTION_LABELS = {
    "portal.room.sync_requested": "Push to ACS requested",
    "portal.participant.role_changed": "Participant role changed",
    "portal.identity.token_issued": "Access token issued",
    "portal.identity.tokens_revoked": "Access tokens revoked",
    "acs.room.missing": "ACS: room missing",
    "acs.room.adopted": "ACS: orphan room adopted",
}


@register.filter
def action_label(action: str) -> str:
    """'acs.room.updated_failed' → 'ACS: room updated (failed)'."""
    if action in _ACTION_LABELS:
        return _ACTION_LABELS[action]
    source, _, rest = action.partition(".")
    words = rest.replace(".", " ").replace("_", " ").strip()
    failed = words.endswith(" failed")
    if failed:
        words = words.removesuffix(" failed")
    label = words[:1].upper() + words[1:]
    if failed:
        label += " (failed)"
    return f"ACS: {label[:1].lower()}{label[1:]}" if source == "acs" else label


@register.filter
def is_failure(action: str) -> bool:
    return action.endswith("_failed")


_FIELD_LABELS = {
    "valid_from": "Starts",
    "valid_until": "Ends",
    "pstn_dial_out_enabled": "PSTN dial-out",
    "display_name": "Name",
    "email": "E-mail",
    "identity": "Person",
    "expires_on": "Expires",
}


@register.filter
def field_label(name: str) -> str:
    """A changed field's name as people say it: 'valid_from' → 'Starts'."""
    return _FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def change_value(value):
    """A before or after value as people read it: times in their zone, switches as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "(none)"
    if value == "":
        return "(empty)"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return when(moment)
    return value
