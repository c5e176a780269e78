"""The join page and its token endpoint (no staff sign-in: the link is the key), and the staff's
buttons that revoke or renew a person's link."""

from collections.abc import Callable
from functools import wraps
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST, require_safe

from joining import links, throttle, tokens
from joining.models import JoinLink
from portal import timezones
from portal.ids import parse_id
from portal.services import require
from rooms.models import Participant, Role
from rooms.rules import WindowState, window_state

INVALID = "This join link is not valid (it may have been revoked)."
TOO_MANY = "Too many tries with this link: wait {minutes} minute(s), then try again."
EMULATED_NOTICE = (
    "This portal runs on the ACS emulator: the call itself needs a real Azure Communication "
    "Services resource. Your device check and your join token worked."
)
JOIN_ONLY_NOTICE = "This token lets you join this room's call only, until the room ends."
# The call panel (the call's front-end); a plain note stands in until it exists.
CALL_TEMPLATES = ["joining/_call.html", "joining/_call_fallback.html"]


def _call_policy() -> dict:
    """The portal's Content-Security-Policy, opened only as far as ACS's Calling SDK needs on
    the join page: it talks to Azure's and Teams' many hosts over HTTPS and WebSockets, runs
    WebAssembly and starts workers from blob: URLs, and draws video into blob: and data: images.
    """
    base = cast(dict[str, list[str]], settings.SECURE_CSP)
    policy = {name: list(values) for name, values in base.items()}
    policy["connect-src"] = [*policy.get("connect-src", [CSP.SELF]), "https:", "wss:"]
    policy["script-src"] = [*policy.get("script-src", [CSP.SELF]), CSP.WASM_UNSAFE_EVAL]
    policy["worker-src"] = [CSP.SELF, "blob:"]
    policy["img-src"] = [*policy.get("img-src", [CSP.SELF]), "blob:"]
    policy["media-src"] = [CSP.SELF, "blob:", "mediastream:"]
    return policy


def _private(view: Callable) -> Callable:
    """The link is a secret: no Referer carries it away, no cache or search engine keeps it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex"
        return response

    return wrapper


def _invalid(request: HttpRequest) -> HttpResponse:
    # One answer for malformed, unknown, tampered and revoked links and deleted rooms: nothing
    # tells a guesser which it was.
    return render(request, "joining/invalid.html", {"message": INVALID}, status=404)


def room_zone(owner) -> str:
    """The zone the room is shown in: its owner's saved zone, else the portal's."""
    return timezones.saved_zone(owner) or timezone.get_default_timezone_name()


@login_not_required
# HEAD too: mail scanners and link previews ask it; neither issues anything.
@require_safe
@ensure_csrf_cookie
@csp_override(_call_policy())
@_private
def join(request: HttpRequest, secret: str) -> HttpResponse:
    link = links.find(secret)
    if link is None:
        return _invalid(request)
    participant = link.participant
    room = participant.room
    state = window_state(room.valid_from, room.valid_until, timezone.now())
    zone = room_zone(room.owner)
    context = {
        "room": room,
        "participant": participant,
        "display_name": participant.identity.display_name,
        "role_label": Role(participant.role).label,
        "room_zone": zone,
        "zone_is_utc": zone in ("UTC", "Etc/UTC"),
        "state": state,
        "states": WindowState,
    }
    if state == WindowState.LIVE:
        context["call_template"] = select_template(CALL_TEMPLATES)
        context["token_url"] = reverse("joining:token", kwargs={"secret": secret})
    return render(request, "joining/join.html", context)


@login_not_required
@require_POST
@_private
def token(request: HttpRequest, secret: str) -> HttpResponse:
    link = links.find(secret)
    if link is None:
        return JsonResponse({"error": INVALID}, status=404)
    wait = throttle.take(link.pk)
    if wait is not None:
        response = JsonResponse(
            {"error": TOO_MANY.format(minutes=max(1, -(-wait // 60)))}, status=429
        )
        response["Retry-After"] = str(wait)
        return response
    try:
        issued = tokens.join_token_issue(link=link)
    except tokens.JoinRefused as refused:
        return JsonResponse({"error": refused.message}, status=refused.status)
    notice = EMULATED_NOTICE if issued.emulated else JOIN_ONLY_NOTICE
    return JsonResponse(
        {
            "token": issued.token,
            "expires_on": issued.expires_on.isoformat(),
            "user_id": issued.user_id,
            "room_id": issued.room_id,
            "emulated": issued.emulated,
            "notice": notice,
        }
    )


# --------------------------------------------------------------------------- staff


def _participant(pk: str) -> Participant:
    return get_object_or_404(
        Participant.objects.select_related("room", "identity"),
        pk=parse_id(pk),
        room__deleted_at__isnull=True,
    )


def _back(participant: Participant) -> HttpResponse:
    return redirect(reverse("rooms:detail", args=[participant.room_id]) + "#join-links")


def _staff_action(view: Callable) -> Callable:
    """POST only; a refusal is a 403 naming the permission; a refused change, a message."""

    @wraps(view)
    @require_POST
    def wrapper(request: HttpRequest, pk: str) -> HttpResponse:
        # Before the lookup: whoever may not manage links learns nothing of who is where.
        require(request.user, *links.MANAGE_LINKS)
        participant = _participant(pk)
        try:
            view(request, participant)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return _back(participant)

    return wrapper


@_staff_action
def link_regenerate(request: HttpRequest, participant: Participant) -> None:
    had_one = JoinLink.objects.filter(participant=participant).exists()
    links.regenerate(participant, actor=request.user)
    name = participant.identity.display_name
    if had_one:
        messages.success(request, f"{name} has a new join link; the old one no longer works.")
    else:
        messages.success(request, f"{name} has a join link now.")


@_staff_action
def link_revoke(request: HttpRequest, participant: Participant) -> None:
    if links.revoke(participant, actor=request.user, reason="revoked on the room page"):
        messages.success(
            request,
            f"{participant.identity.display_name}'s join link is revoked: it no longer works.",
        )
