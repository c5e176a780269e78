"""Series pages: the list, the form (create; edit all or this-and-following), the series page
with its occurrences, roster and history, and its actions (roster, skip, cancel)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identities.models import Identity
from portal.http import HtmxHttpRequest, needs
from portal.ids import parse_id
from portal.models import AuditEvent
from portal.services import Conflict, require
from rooms import rules
from rooms import series as services
from rooms.models import Role, Room, Series
from rooms.series_forms import RosterAddForm, SeriesForm, new_series_initial, series_initial
from rooms.services import ParticipantEntry, may_give_roles

STALE = "Someone else changed this series in the meantime, so nothing was changed. Check it."


def _series(request: HtmxHttpRequest, pk: int) -> Series:
    require(request.user, "rooms.view_room", "view rooms")
    return get_object_or_404(Series.objects.select_related("owner"), pk=pk)


def _occurrence(series: Series, value: str | None) -> Room | None:
    """The occurrence a scope names (a room id of the series), or None for all of them."""
    pk = parse_id(value or "")
    if pk is None:
        return None
    room = Room.objects.filter(pk=pk, series=series, deleted_at__isnull=True).first()
    if room is None or room.occurrence is None:
        raise ValidationError(services.NOT_AN_OCCURRENCE)
    return room


def _scope_label(room: Room | None) -> str:
    if room is None:
        return "every occurrence that has not ended"
    local = timezone.localtime(room.occurrence)
    return f"the occurrence of {local:%a %d %b %Y} and the following ones"


@require_GET
@needs("rooms.view_room", "view rooms")
def series_list(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = []
    for series in Series.objects.filter(cancelled_at__isnull=True).order_by("title", "pk"):
        upcoming = (
            Room.objects.filter(series=series, deleted_at__isnull=True, valid_until__gt=now)
            .order_by("valid_from")
            .first()
        )
        rows.append({"series": series, "rule": services.describe(series), "next": upcoming})
    return render(request, "rooms/series_list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@needs("rooms.add_room", "create rooms")
def series_create(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SeriesForm(request.POST)
        if form.is_valid():
            try:
                series = services.series_create(actor=request.user, **form.series_fields())
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(
                    request,
                    f"Created the series “{series.title}”. Its occurrences for the next "
                    f"{services.horizon().days} days are being made; add people next.",
                )
                return redirect("rooms:series_detail", pk=series.pk)
    else:
        form = SeriesForm(initial=new_series_initial())
    return render(request, "rooms/series_form.html", {"form": form, "series": None})


@require_http_methods(["GET", "POST"])
@needs("rooms.change_room", "edit rooms")
def series_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    series = _series(request, pk)
    if series.cancelled_at is not None:
        messages.error(request, services.SERIES_GONE)
        return redirect("rooms:series_detail", pk=series.pk)
    try:
        occurrence = _occurrence(series, request.POST.get("from") or request.GET.get("from"))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("rooms:series_detail", pk=series.pk)
    if request.method == "POST":
        form = SeriesForm(request.POST)
        if form.is_valid():
            version = form.cleaned_data["version"]
            try:
                if version is None:
                    raise ValidationError("The form lost the series' version: reload the page.")
                saved = services.series_update(
                    actor=request.user,
                    series=series,
                    expected_version=version,
                    scope_from=occurrence.occurrence if occurrence else None,
                    **form.series_fields(),
                )
            except Conflict:
                form.add_error(None, STALE)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Saved “{saved.title}” for {_scope_label(occurrence)}.")
                return redirect("rooms:series_detail", pk=saved.pk)
    else:
        form = SeriesForm(initial=series_initial(series, occurrence))
    context = {
        "form": form,
        "series": series,
        "occurrence": occurrence,
        "scope": _scope_label(occurrence),
    }
    return render(request, "rooms/series_form.html", context)


@require_GET
@needs("rooms.view_room", "view rooms")
def series_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    series = _series(request, pk)
    now = timezone.now()
    rooms = list(
        Room.objects.filter(series=series, deleted_at__isnull=True).order_by("valid_from", "pk")
    )
    for room in rooms:
        room.window_state = rules.window_state(  # type: ignore[attr-defined]
            room.valid_from, room.valid_until, now
        )
    upcoming = [room for room in rooms if room.valid_until > now]
    roster = list(series.roster.select_related("identity").order_by("identity__display_name"))
    events = list(
        AuditEvent.objects.filter(target_type="rooms.series", target_id=str(series.pk)).order_by(
            "-pk"
        )[:50]
    )
    context = {
        "series": series,
        "rule": services.describe(series),
        "length": services.length_text(series.duration),
        "rrule": services.rrule_text(series),
        "rooms": rooms,
        "upcoming": upcoming,
        "ended_count": len(rooms) - len(upcoming),
        "roster": roster,
        "events": events,
        "add_form": RosterAddForm(),
        "may_give_roles": may_give_roles(request.user),
        "roles": Role.choices,
        "horizon_days": services.horizon().days,
    }
    return render(request, "rooms/series_detail.html", context)


def _roles(request: HtmxHttpRequest) -> dict[int, str]:
    roles = {}
    for key in request.POST:
        value = request.POST.get(key, "")
        if key.startswith("role-"):
            pk = parse_id(key.removeprefix("role-"))
            if pk is None:
                raise ValidationError(f"{key!r} names no person.")
            roles[pk] = value
    return roles


@require_POST
def series_roster(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Add someone, change roles or remove someone, for all occurrences or from one on."""
    series = _series(request, pk)
    action = request.POST.get("action")
    try:
        occurrence = _occurrence(series, request.POST.get("from"))
        scope = occurrence.occurrence if occurrence else None
        if action == "add":
            form = RosterAddForm(request.POST)
            if not form.is_valid():
                raise ValidationError(
                    [f"{name}: {' '.join(map(str, errs))}" for name, errs in form.errors.items()]
                )
            entry = ParticipantEntry(person=form.person(), role=form.cleaned_data["role"])
            touched = services.series_roster_change(
                actor=request.user, series=series, add=[entry], scope_from=scope
            )
            done = f"Added {form.cleaned_data['email']}"
        elif action == "roles":
            touched = services.series_roster_change(
                actor=request.user, series=series, roles=_roles(request), scope_from=scope
            )
            done = "Changed the roles"
        elif action == "remove":
            identity = parse_id(request.POST.get("identity", ""))
            if identity is None:
                raise ValidationError("Choose the person to remove.")
            touched = services.series_roster_change(
                actor=request.user, series=series, remove=[identity], scope_from=scope
            )
            person = Identity.objects.filter(pk=identity).first()
            done = f"Removed {person or 'them'}"
        else:
            raise ValidationError("Unknown roster change.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"{done} for {_scope_label(occurrence)}: {touched} room"
            f"{'' if touched == 1 else 's'} updated; ACS follows in a moment.",
        )
    return redirect("rooms:series_detail", pk=series.pk)


@require_POST
@needs("rooms.delete_room", "delete rooms")
def series_skip(request: HtmxHttpRequest, pk: int, room_pk: int) -> HttpResponse:
    series = _series(request, pk)
    room = Room.objects.filter(pk=room_pk, series=series).first()
    try:
        if room is None:
            raise ValidationError(services.NOT_AN_OCCURRENCE)
        services.series_skip(actor=request.user, series=series, room=room)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Skipped the occurrence of {_day(room)}.")
    return redirect("rooms:series_detail", pk=series.pk)


def _day(room: Room) -> str:
    return f"{timezone.localtime(room.valid_from):%a %d %b %Y}"


@require_http_methods(["GET", "POST"])
@needs("rooms.delete_room", "delete rooms")
def series_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    series = _series(request, pk)
    try:
        occurrence = _occurrence(series, request.POST.get("from") or request.GET.get("from"))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("rooms:series_detail", pk=series.pk)
    if request.method == "POST":
        try:
            gone = services.series_cancel(
                actor=request.user,
                series=series,
                scope_from=occurrence.occurrence if occurrence else None,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"Cancelled {_scope_label(occurrence)} of “{series.title}”: {gone} room"
                f"{'' if gone == 1 else 's'} deleted; ACS removes them in a moment.",
            )
        return redirect("rooms:series_detail", pk=series.pk)
    now = timezone.now()
    going = services.affected_rooms(
        series, occurrence.occurrence if occurrence else None, now=now
    ).filter(valid_from__gt=now)
    context = {
        "series": series,
        "occurrence": occurrence,
        "scope": _scope_label(occurrence),
        "going": list(going),
    }
    return render(request, "rooms/series_cancel.html", context)
