"""Identity pages: list and search, create, the identity's page, tokens shown once, delete."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identities import selectors, services
from identities.forms import IdentityForm, TokenForm
from identities.models import Identity, TokenScope
from portal.http import HtmxHttpRequest, needs, render_page
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
    identities = selectors.identity_list(search=search, show_deleted=show_deleted)
    page = Paginator(identities, PAGE_SIZE).get_page(request.GET.get("page"))
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
        "events": selectors.identity_events(identity),
        "token_form": token_form or TokenForm(),
        "now": timezone.now(),
    }
    return render(request, "identities/detail.html", context)


@require_GET
def identity_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, get_identity_for_user(request, pk))


@never_cache
@require_POST
@needs("identities.issue_token", "issue access tokens")
def identity_issue_token(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Show the new token in this response only: never in a URL, the session or a message."""
    identity = get_live_identity_for_user(request, pk)
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
    # The service may have just created the ACS user: show its id.
    identity.refresh_from_db()
    messages.success(request, f"Issued an access token for {identity.display_name}.")
    context = {
        "identity": identity,
        "token": issued.token,
        "expires_on": issued.expires_on,
        "scopes": [TokenScope(scope).label for scope in issued.scopes],
    }
    return render(request, "identities/token.html", context)


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
