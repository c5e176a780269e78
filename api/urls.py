"""/api/: the token page (a portal page) and the API's endpoints (bearer tokens, JSON)."""

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.urls import URLPattern, path
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from api import idempotency, views
from api.errors import error_response
from api.main import api
from api.parsing import body_problem

app_name = "api"
# The docs page stays behind the portal's sign-in; the schema is public, as any client reads it.
_SIGNED_IN_ONLY = {"openapi-view"}


def _gate(view):
    """Every endpoint: no sign-in redirect (the token is checked instead), body checks,
    Idempotency-Key on POST, a JSON 405, and no caching of answers."""

    @wraps(view)
    def gated(request, *args, **kwargs):
        problem = body_problem(request)
        if problem is not None:
            message, field = problem
            return error_response(400, "bad_request", message, field=field)
        if request.method == "POST" and idempotency.HEADER in request.headers:
            response = idempotency.run(request, lambda: view(request, *args, **kwargs))
        else:
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                # Only the API's root raises it: it names no resource.
                return error_response(
                    404, "not_found", "The API's resources are listed at /api/docs."
                )
        if response.status_code == 405 and response.get("Content-Type", "").startswith("text/"):
            allowed = response.get("Allow", "")
            response = error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {allowed}.",
                headers={"Allow": allowed},
            )
        patch_cache_control(response, private=True, no_store=True)
        return response

    return login_not_required(gated)


def _endpoints() -> list[URLPattern]:
    patterns, _app, _namespace = api.urls
    gated: list[URLPattern] = []
    for entry in patterns:
        assert isinstance(entry, URLPattern)  # ninja makes no nested resolvers
        if entry.name in _SIGNED_IN_ONLY:
            # ninja's docs view answers any method; a page is read with GET.
            callback = require_GET(entry.callback)
            gated.append(URLPattern(entry.pattern, callback, entry.default_args, entry.name))
        else:
            callback = _gate(entry.callback)
            gated.append(URLPattern(entry.pattern, callback, entry.default_args, entry.name))
    return gated


urlpatterns = [
    path("tokens/", views.token_page, name="tokens"),
    *_endpoints(),
]
