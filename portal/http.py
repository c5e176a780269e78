"""What every view shares: the typed HTMX request, permission checks, page-or-partial rendering."""

from collections.abc import Callable

from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

from portal.services import require


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def needs(permission: str, what: str) -> Callable:
    """Django's permission_required(permission, raise_exception=True), naming the permission.

    permission_required raises a bare PermissionDenied, so the 403 page could not say what to
    ask for. This is the same user_passes_test decorator with the services' own check, require(),
    as its test: one check, whose refusal names the permission, for views and services alike.
    """

    def test(user) -> bool:
        require(user, permission, what)
        return True

    return user_passes_test(test)


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


def next_or(request: HttpRequest, default: str) -> str:
    """The `next` the request carried if it stays on this site, else `default`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
