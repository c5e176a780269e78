"""The user's own settings: the time zone the portal shows times in (its setting page)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal import timezones
from portal.http import HtmxHttpRequest, next_or
from portal.models import Preference

UNKNOWN_ZONE = "Choose a time zone from the list."
FOLLOW_BROWSER = ""


def _zone_choices() -> list:
    return [(FOLLOW_BROWSER, "My browser’s zone"), *timezones.choices()]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        choices=_zone_choices,
        error_messages={"invalid_choice": UNKNOWN_ZONE},
        help_text="Every time in the portal is shown in this zone, with the zone named.",
    )


def preference_set_time_zone(*, user, time_zone: str) -> Preference:
    """Save the zone the user wants times shown in ("" to follow their browser's)."""
    name = timezones.canonical(time_zone) if time_zone else FOLLOW_BROWSER
    if name is None:
        raise ValidationError(UNKNOWN_ZONE, code="unknown_zone")
    preference, _ = Preference.objects.update_or_create(user=user, defaults={"time_zone": name})
    return preference


@require_http_methods(["GET", "POST"])
def time_zone_setting(request: HtmxHttpRequest) -> HttpResponse:
    """Any signed-in user chooses the zone their times are shown in; it follows them."""
    saved = timezones.saved_zone(request.user)
    form = TimeZoneForm(request.POST or None, initial={"time_zone": saved})
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["time_zone"]
        try:
            preference_set_time_zone(user=request.user, time_zone=chosen)
        except ValidationError as exc:
            form.add_error("time_zone", exc)
        else:
            timezones.remember(request.session, timezones.canonical(chosen) or FOLLOW_BROWSER)
            if chosen:
                messages.success(request, f"Times are now shown in {timezones.label(chosen)}.")
            else:
                messages.success(request, "Times are now shown in your browser’s time zone.")
            return redirect(next_or(request, "") or reverse("time_zone"))
    context = {
        "form": form,
        "saved": saved,
        "browser_zone": timezones.browser_zone_name(request),
        "next": next_or(request, ""),
    }
    # 200 with the error, as every form of the portal answers a mistake.
    return render(request, "portal/time_zone.html", context)
