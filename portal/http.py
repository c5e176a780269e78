"""What every view shares: the typed HTMX request, permission checks, page-or-partial rendering."""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from portal.services import require


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def needs(permission: str, what: str) -> Callable:
    """Refuse the view with a 403 naming the permission unless the user holds it."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require(request.user, permission, what)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict,
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only its named partial when htmx asked for it (and not boosted)."""
    htmx = request.htmx
    # A history restore (Back after the cache expired) needs the whole page, not a fragment.
    if partial and htmx and not htmx.boosted and not htmx.history_restore_request:
        template = f"{template}#{partial}"
    response = render(request, template, context, status=status)
    # The same URL answers a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response
