"""Portal-wide pages: the dashboard and the health check."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from portal.selectors import latest_events
from rooms.selectors import dashboard_rooms


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Rooms live, today, coming and just ended, rooms ACS disagrees on, and the latest history."""
    # Each part only for a user allowed to see it; the template explains what is missing.
    context = {
        "rooms": dashboard_rooms(user=request.user),
        "events": latest_events(10) if request.user.has_perm("portal.view_auditevent") else None,
    }
    return render(request, "portal/dashboard.html", context)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Tell a load balancer whether this process can reach its database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's)."""
    # Resolved per request: the hashed static name exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("favicon.svg"))
