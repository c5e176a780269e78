"""The history page's filter form: turns the query string into HistoryFilters, or field errors."""

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo

from django import forms
from django.utils.text import capfirst

from portal.models import AuditEvent
from portal.selectors import SYNC_WORKER, SYNC_WORKER_NAME, HistoryFilters
from portal.services import column_length
from portal.templatetags.portal_tags import action_label

TO_BEFORE_FROM = "The “to” date is before the “from” date: choose a “to” date on or after it."
BAD_ACTOR = "Choose an actor from the list."
BAD_ACTION = "Choose an action from the list, or give a prefix such as “acs.”."
# No filter can match more than its column holds.
MAX_ACTOR = column_length(AuditEvent, "actor_label")
MAX_ACTION = column_length(AuditEvent, "action")

# An action code (portal.room.created) or a prefix of one ending in a dot (acs., portal.room.).
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?$")

# The areas the action select groups codes under, each with an "all of them" choice.
AREAS = (
    ("portal.room.", "Rooms", "All room changes"),
    ("portal.participant.", "Participants", "All participant changes"),
    ("portal.identity.", "Identities", "All identity changes"),
    ("acs.", "ACS answers", "All ACS answers"),
)


def _area_of(action: str) -> str:
    for prefix, _, _ in AREAS:
        if action.startswith(prefix):
            return prefix
    # portal.reconcile.fixed → portal.reconcile.
    return ".".join(action.split(".")[:2]) + "."


def action_choices(actions: Iterable[str]) -> list:
    """The select's choices: one group per area, each led by its prefix (= every action in it)."""
    groups: dict[str, list[tuple[str, str]]] = {prefix: [] for prefix, _, _ in AREAS}
    for action in actions:
        groups.setdefault(_area_of(action), []).append((action, action_label(action)))
    labels = {prefix: (label, every) for prefix, label, every in AREAS}
    choices: list = [("", "Any action")]
    for prefix, members in groups.items():
        label, every = labels.get(prefix, (prefix.rstrip(".").replace(".", " ").title(), None))
        choices.append((label, [(prefix, every or f"All {prefix}*"), *members]))
    return choices


class HistoryFilterForm(forms.Form):
    # Text fields shown as selects: a shared link may name an actor or prefix not listed yet.
    # (No max_length: it would put a maxlength attribute on the <select>.)
    actor = forms.CharField(required=False, widget=forms.Select)
    room = forms.IntegerField(
        label="Room id", required=False, min_value=1, widget=forms.NumberInput(attrs={"size": 6})
    )
    target = forms.CharField(
        label="Target contains",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "room title, name…"}),
    )
    action = forms.CharField(required=False, widget=forms.Select)
    failures = forms.BooleanField(label="Failures only", required=False)
    date_from = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, actors: Iterable[str] = (), actions: Iterable[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        # Choices are what the trail holds; a value from a shared link that is not among them
        # (yet) is kept selectable so the form shows what the page is filtered by.
        actors, actions = list(actors), list(actions)
        chosen_actor = self.data.get("actor", "")
        if chosen_actor and chosen_actor != SYNC_WORKER and chosen_actor not in actors:
            actors.append(chosen_actor)
        self.fields["actor"].widget.choices = [
            ("", "Anyone"),
            (SYNC_WORKER, capfirst(SYNC_WORKER_NAME)),
            *((label, label) for label in actors),
        ]
        choices = action_choices(actions)
        offered = {value for _, group in choices[1:] for value, _ in group}
        chosen_action = self.data.get("action", "")
        if chosen_action and chosen_action not in offered and _ACTION.match(chosen_action):
            label = f"{chosen_action}*" if chosen_action.endswith(".") else chosen_action
            choices.insert(1, (chosen_action, label))
        self.fields["action"].widget.choices = choices

    def clean_actor(self) -> str:
        actor = self.cleaned_data["actor"]
        if MAX_ACTOR is not None and len(actor) > MAX_ACTOR:
            raise forms.ValidationError(BAD_ACTOR)
        return actor

    def clean_action(self) -> str:
        action = self.cleaned_data["action"].strip()
        too_long = MAX_ACTION is not None and len(action) > MAX_ACTION
        if action and (too_long or not _ACTION.match(action)):
            raise forms.ValidationError(BAD_ACTION)
        return action

    def clean(self):
        super().clean()
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", TO_BEFORE_FROM)
        return self.cleaned_data

    def filters(self, zone: tzinfo) -> HistoryFilters:
        """The valid form's filters; dates are whole days in the user's zone, both inclusive."""
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        return HistoryFilters(
            actor=data.get("actor") or "",
            room=data.get("room"),
            target=(data.get("target") or "").strip(),
            action=data.get("action") or "",
            failures_only=bool(data.get("failures")),
            since=datetime.combine(start, time.min, tzinfo=zone) if start else None,
            until=_day_after(end, zone) if end else None,
        )


def _day_after(day: date, zone: tzinfo) -> datetime | None:
    """Midnight after the day, where the inclusive range ends (None past the calendar's end)."""
    if day == date.max:
        return None
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
