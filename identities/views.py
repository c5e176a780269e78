"""Identity pages: list and search, create, the identity's page, tokens shown once, delete."""

import base64
import secrets
import time
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identities import selectors, services
from identities.forms import IdentityForm, TokenForm
from identities.models import Identity, TokenScope
from portal.http import HtmxHttpRequest, needs, render_page
from portal.selectors import fold_repeated_failures
from portal.services import require

PAGE_SIZE = 25


def get_identity_for_user(request: HtmxHttpRequest, pk: int) -> Identity:
    """The identity, deleted or not, if the user may view identities (403 otherwise), else 404."""
    require(request.user, "identities.view_identity", "view identities")
    identity = selectors.identity_get(pk)
    if identity is None:
        raise Http404("No such identity.")
    return identity


def get_live_identity_for_user(request: HtmxHttpRequest, pk: int) -> Identity:
    """As get_identity_for_user, but 404 for a deleted identity: nothing can be done to it.

    Its page stays viewable (marked deleted, without actions) so history links keep working.
    """
    identity = get_identity_for_user(request, pk)
    if identity.deleted_at is not None:
        raise Http404("This identity has been deleted.")
    return identity


@require_GET
@needs("identities.view_identity", "view identities")
def identity_list(request: HtmxHttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:200]
    show_deleted = request.GET.get("deleted") == "1"
    page = selectors.identity_page(
        search=search, show_deleted=show_deleted, number=request.GET.get("page"), per_page=PAGE_SIZE
    )
    context = {
        "page_obj": page,
        "search": search,
        "show_deleted": show_deleted,
        "now": timezone.now(),
    }
    return render_page(request, "identities/list.html", context, partial="results")


@require_http_methods(["GET", "POST"])
@needs("identities.add_identity", "create identities")
def identity_create(request: HtmxHttpRequest) -> HttpResponse:
    form = IdentityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            identity = services.identity_create(
                actor=request.user,
                display_name=form.cleaned_data["display_name"],
                email=form.cleaned_data["email"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Created {identity.display_name}; their ACS user is being created in the "
                "background.",
            )
            return redirect("identities:detail", pk=identity.pk)
    # 200 with the errors, as Django's admin does: a 400 would log a warning for every typo.
    return render(request, "identities/form.html", {"form": form})


def _render_detail(
    request: HtmxHttpRequest, identity: Identity, token_form: TokenForm | None = None
) -> HttpResponse:
    context = {
        "identity": identity,
        "participations": list(selectors.identity_rooms(identity)),
        "events": fold_repeated_failures(selectors.identity_events(identity)),
        "token_form": token_form or TokenForm(),
        "now": timezone.now(),
    }
    return render(request, "identities/detail.html", context)


@require_GET
def identity_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, get_identity_for_user(request, pk))


# A token just issued waits for its one showing split in two halves, neither of which is the
# token: its bytes XOR a random pad of the same length in the session (the database), the pad in
# a cookie only the token page receives, for TOKEN_SHOW_WITHIN seconds. The POST that issues it
# redirects to a GET of the same address, which shows it and deletes both halves, so a reload
# shows that it was shown already and never issues a second token. The URL never carries it.
TOKEN_SESSION_KEY = "portal_issued_token"
TOKEN_PAD_COOKIE = "portal_token_pad"
TOKEN_SHOW_WITHIN = 300


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None


def _stash_token(request: HtmxHttpRequest, response: HttpResponse, identity, issued, minutes):
    """Keep the new token for its one showing: half in the session, half in a cookie."""
    secret = issued.token.encode("utf-8")
    pad = secrets.token_bytes(len(secret))
    request.session[TOKEN_SESSION_KEY] = {
        "identity": identity.pk,
        "masked": _b64(_xor(secret, pad)),
        "expires_on": issued.expires_on.isoformat(),
        "scopes": list(issued.scopes),
        "minutes": minutes,
        "issued_at": int(time.time()),
    }
    response.set_cookie(
        TOKEN_PAD_COOKIE,
        _b64(pad),
        max_age=TOKEN_SHOW_WITHIN,
        path=reverse("identities:issue_token", args=[identity.pk]),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def _take_token(request: HtmxHttpRequest, identity: Identity) -> tuple[dict | None, str | None]:
    """This identity's last issue (or None) and its token if not shown yet; forgets the token."""
    stash = request.session.get(TOKEN_SESSION_KEY)
    if not isinstance(stash, dict) or stash.get("identity") != identity.pk:
        return None, None
    token = None
    masked, pad = _unb64(stash.get("masked")), _unb64(request.COOKIES.get(TOKEN_PAD_COOKIE))
    fresh = time.time() - stash.get("issued_at", 0) < TOKEN_SHOW_WITHIN
    if masked is not None and pad is not None and len(masked) == len(pad) and fresh:
        try:
            token = _xor(masked, pad).decode("utf-8")
        except UnicodeDecodeError:
            token = None
    # Shown now or never: only what it was issued with stays, to offer the same again.
    request.session[TOKEN_SESSION_KEY] = {
        key: stash.get(key) for key in ("identity", "expires_on", "scopes", "minutes")
    }
    return stash, token


@never_cache
@require_http_methods(["GET", "POST"])
@needs("identities.issue_token", "issue access tokens")
def identity_issue_token(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """POST issues a token and redirects here; GET shows it once, then offers a new one."""
    identity = get_live_identity_for_user(request, pk)
    if request.method == "GET":
        return _token_page(request, identity)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, identity, form)
    try:
        issued = services.identity_issue_token(
            actor=request.user,
            identity=identity,
            scopes=form.cleaned_data["scopes"],
            minutes=form.cleaned_data["minutes"],
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        identity.refresh_from_db()
        return _render_detail(request, identity, form)
    messages.success(request, f"Issued an access token for {identity.display_name}.")
    response = redirect("identities:issue_token", pk=identity.pk)
    _stash_token(request, response, identity, issued, form.cleaned_data["minutes"])
    return response


def _token_page(request: HtmxHttpRequest, identity: Identity) -> HttpResponse:
    stash, token = _take_token(request, identity)
    scopes = stash.get("scopes") if stash else None
    minutes = stash.get("minutes") if stash else None
    initial = {"scopes": scopes, "minutes": minutes} if scopes and minutes else {}
    context: dict[str, object] = {
        "identity": identity,
        "token": token,
        # Issued here before, but shown already (or not opened in time): say so, offer another.
        "shown_already": stash is not None and token is None,
        "token_form": TokenForm(initial=initial),
    }
    if token is not None and stash is not None:
        context["expires_on"] = datetime.fromisoformat(stash["expires_on"])
        context["scopes"] = [TokenScope(scope).label for scope in stash["scopes"]]
    response = render(request, "identities/token.html", context)
    if TOKEN_PAD_COOKIE in request.COOKIES:
        response.delete_cookie(
            TOKEN_PAD_COOKIE,
            path=reverse("identities:issue_token", args=[identity.pk]),
            samesite="Strict",
        )
    return response


@require_POST
@needs("identities.revoke_tokens", "revoke access tokens")
def identity_revoke_tokens(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    identity = get_live_identity_for_user(request, pk)
    try:
        services.identity_revoke_tokens(actor=request.user, identity=identity)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Revoked every access token issued to {identity.display_name}; ACS refuses them now.",
        )
    return redirect("identities:detail", pk=identity.pk)


@require_http_methods(["GET", "POST"])
@needs("identities.delete_identity", "delete identities")
def identity_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    identity = get_live_identity_for_user(request, pk)
    participations = list(selectors.identity_rooms(identity))
    if request.method == "POST":
        try:
            services.identity_delete(actor=request.user, identity=identity)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("identities:detail", pk=identity.pk)
        rooms = len(participations)
        messages.success(
            request,
            f"Deleted {identity.display_name}; removed from {rooms} "
            f"room{'' if rooms == 1 else 's'}.",
        )
        return redirect("identities:list")
    return render(
        request,
        "identities/confirm_delete.html",
        {"identity": identity, "participations": participations},
    )
