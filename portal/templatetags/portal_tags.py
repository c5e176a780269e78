"""Template helpers every page shares: times shown in the user's zone with the zone named."""

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from portal.selectors import SYNC_WORKER_NAME, fold_repeated_failures

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


def _time_tag(value: datetime, text: str):
    """One end of a window: the UTC instant in `datetime` and the title, `text` shown."""
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.astimezone(UTC).isoformat(timespec="seconds"),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        text,
    )


@register.simple_tag
def window(start: datetime | None, end: datetime | None):
    """A room's window as dense tables show it: the date once, the zone once.

    "Mon 21 Dec 2026, 09:00–10:00 CET" on one day; "Mon 21 Dec 2026, 09:00 – Tue 22 Dec, 10:00
    CET" across days (the year again only when it changes); each end named with its own
    abbreviation when they differ (a change of summer time falls inside).
    """
    if start is None or end is None:
        return format_html("{} – {}", when(start), when(end))
    first, last = timezone.localtime(start), timezone.localtime(end)
    start_text = first.strftime("%a %d %b %Y, %H:%M")
    same_zone = first.tzname() == last.tzname()
    if first.date() == last.date():
        end_text = last.strftime("%H:%M")
    elif first.year == last.year:
        end_text = last.strftime("%a %d %b, %H:%M")
    else:
        end_text = last.strftime("%a %d %b %Y, %H:%M")
    if same_zone:
        dash = "–" if first.date() == last.date() else " – "
        return format_html(
            "{}{}{} {}", _time_tag(start, start_text), dash, _time_tag(end, end_text), last.tzname()
        )
    return format_html(
        "{} {} – {} {}",
        _time_tag(start, start_text),
        first.tzname(),
        _time_tag(end, end_text),
        last.tzname(),
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


@register.filter
def actor_name(event) -> str:
    """Who made an event: the user as recorded, or the sync worker when no user did."""
    return SYNC_WORKER_NAME if event.actor_id is None else event.actor_label


@register.filter
def folded(events) -> list:
    """A page of events with repeated identical failures on one line (see the selector)."""
    return fold_repeated_failures(list(events))


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
