"""The history page (every audit event, filtered and paged) and its CSV export."""

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import MAX_URL_LENGTH
from django.views.decorators.http import require_GET

from portal import csv_export, selectors
from portal.forms import HistoryFilterForm
from portal.http import HtmxHttpRequest, needs, render_page
from portal.ids import parse_id

READ_HISTORY = "read the history"
CURSORS = ("before", "after")


@require_GET
@needs("portal.view_auditevent", READ_HISTORY)
def history_list(request: HtmxHttpRequest) -> HttpResponse:
    form = HistoryFilterForm(
        request.GET,
        actors=selectors.history_actor_labels(),
        actions=selectors.history_actions(),
    )
    page = None
    if form.is_valid():
        page = selectors.history_page(
            form.filters(timezone.get_current_timezone()),
            before=parse_id(request.GET.get("before", "")),
            after=parse_id(request.GET.get("after", "")),
        )
    context = {
        "form": form,
        "page": page,
        # What the page lists: the page's events with repeated identical failures on one line.
        "lines": selectors.fold_repeated_failures(page.events) if page else [],
        "filtered": any(value for key, value in request.GET.items() if key not in CURSORS),
        "paged": any(key in request.GET for key in CURSORS),
    }
    return render_page(request, "portal/history.html", context, partial="history")


@require_GET
@needs("portal.view_auditevent", READ_HISTORY)
def history_export(request: HtmxHttpRequest) -> HttpResponseBase:
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        # Back to the page, which shows each error beside its field; a query too long for a
        # redirect (Django refuses those over 2,048 characters) gets the page itself.
        target = f"{reverse('history')}?{request.GET.urlencode()}"
        if len(target) > MAX_URL_LENGTH:
            return history_list(request)
        return redirect(target)
    # Captured now: the time zone middleware deactivates the zone before the body is streamed.
    zone = timezone.get_current_timezone()
    zone_name = timezone.get_current_timezone_name()
    events = selectors.history_events(form.filters(zone))
    response = StreamingHttpResponse(
        csv_export.stream(events, zone=zone, zone_name=zone_name),
        content_type="text/csv; charset=utf-8",
    )
    day = timezone.localtime(timezone.now(), zone).date().isoformat()
    response["Content-Disposition"] = f'attachment; filename="audit-history-{day}.csv"'
    # Never cached: the file is a snapshot of what the user may read now.
    response["Cache-Control"] = "no-store"
    return response
