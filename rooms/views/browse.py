"""Room views for browsing: the filtered, sorted rooms list and the week calendar."""

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.http import HtmxHttpRequest, needs, render_page
from rooms import selectors
from rooms.rules import WindowState
from rooms.selectors import ANY_TIME, DEFAULT_SORT, STATE_CHOICES, SYNC_CHOICES, RoomFilters


def _within_calendar(day: date) -> bool:
    # A day of year 1 or 9999 has neighbours (its week, the next midnight) Python cannot hold.
    return date.min.year < day.year < date.max.year


class RoomFilterForm(forms.Form):
    """The list's filters, read from the query string; a value it cannot read filters nothing."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        strip=True,
        help_text="Title, ACS id, or a participant's name or e-mail",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Title, ACS id, participant or e-mail",
                "autocomplete": "off",
            }
        ),
    )
    # Live and upcoming rooms unless asked otherwise: ended ones are behind "Ended" or "Any time".
    state = forms.ChoiceField(label="Window", required=False, choices=STATE_CHOICES)
    sync = forms.ChoiceField(label="Sync", required=False, choices=[("", "Any"), *SYNC_CHOICES])
    owner = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    day = forms.DateField(
        label="Valid on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, data, *, owners):
        super().__init__(data)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)  # the TypedChoiceField declared above
        owner.choices = [
            ("", "Anyone"),
            *((user.pk, user.get_full_name() or user.get_username()) for user in owners),
        ]

    def clean_day(self) -> date | None:
        day = self.cleaned_data["day"]
        if day and not _within_calendar(day):
            raise ValidationError("Enter a date between the years 2 and 9998.")
        return day

    def to_filters(self, sort: str | None) -> RoomFilters:
        self.is_valid()
        # Fields that failed to parse are left out (their error shows beside them).
        values = {name: value for name, value in self.cleaned_data.items() if value}
        return RoomFilters(**values, sort=selectors.parse_sort(sort))


# Column headers that sort the list: sort key → label.
SORT_COLUMNS = {
    "title": "Title",
    "valid_from": "From",
    "valid_until": "Until",
    "sync_state": "Sync",
    "created_at": "Created",
}


def _sort_links(current: str) -> dict[str, dict]:
    """For each sortable column: the sort a click asks for and the aria-sort it has now."""
    links = {}
    for key, label in SORT_COLUMNS.items():
        if current == key:
            links[key] = {"label": label, "next": f"-{key}", "aria": "ascending", "arrow": "▲"}
        elif current == f"-{key}":
            links[key] = {"label": label, "next": key, "aria": "descending", "arrow": "▼"}
        else:
            links[key] = {"label": label, "next": key, "aria": "none", "arrow": ""}
    return links


# What the list's own order is, said above the table while no column sort is chosen.
_ORDER_NOTES = {
    "": "Live rooms first, soonest ending; then upcoming rooms, soonest starting.",
    WindowState.LIVE: "Soonest ending first.",
    WindowState.UPCOMING: "Soonest starting first.",
    WindowState.ENDED: "Most recently ended first.",
    ANY_TIME: (
        "Live rooms first, soonest ending; then upcoming rooms, soonest starting; "
        "then ended rooms, most recently ended."
    ),
}


def _order_note(filters: RoomFilters) -> str:
    if filters.sort != DEFAULT_SORT:
        return ""
    return _ORDER_NOTES.get(filters.state, _ORDER_NOTES[""])


@require_GET
@needs("rooms.view_room", "view rooms")
def room_list(request: HtmxHttpRequest) -> HttpResponse:
    owners = list(selectors.room_owners())
    form = RoomFilterForm(request.GET, owners=owners)
    filters = form.to_filters(request.GET.get("sort"))
    page = selectors.room_page(user=request.user, filters=filters, number=request.GET.get("page"))
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "rooms": page.object_list,
        "sort_links": _sort_links(filters.sort),
        "default_sort": DEFAULT_SORT,
        "order_note": _order_note(filters),
        "any_time": ANY_TIME,
    }
    return render_page(request, "rooms/list.html", context, partial="results")


def _parse_week(value: str | None) -> tuple[date, bool]:
    """The date asked for (any day of the week), or today when missing or unreadable."""
    if not value:
        return timezone.localdate(), True
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return timezone.localdate(), False
    if not _within_calendar(day):
        return timezone.localdate(), False
    return day, True


@require_GET
@needs("rooms.view_room", "view rooms")
def room_calendar(request: HtmxHttpRequest) -> HttpResponse:
    day, understood = _parse_week(request.GET.get("week"))
    now = timezone.now()
    week = selectors.week_calendar(user=request.user, day=day, now=now)
    context = {
        "week": week,
        "bad_week": None if understood else request.GET.get("week"),
        "this_week": selectors.week_start(timezone.localdate()),
        "now": now,
    }
    return render_page(request, "rooms/calendar.html", context, partial="week")
