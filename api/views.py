"""The signed-in user's API tokens page: list, make (the secret shown once), revoke."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from api import tokens
from api.forms import TokenForm
from portal.http import HtmxHttpRequest
from portal.ids import parse_id


@require_http_methods(["GET", "POST"])
def token_page(request: HtmxHttpRequest) -> HttpResponse:
    """Any signed-in user's own tokens; each acts with that user's permissions."""
    form = TokenForm()
    secret = ""
    if request.method == "POST":
        if "revoke" in request.POST:
            pk = parse_id(request.POST["revoke"])
            revoked = tokens.token_revoke(user=request.user, pk=pk) if pk else None
            if revoked is None:
                messages.error(request, "That token is not one of your live tokens.")
            else:
                messages.success(request, f"“{revoked.name}” no longer works.")
            return redirect("api:tokens")
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                made = tokens.token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                )
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                # Rendered, not redirected: the secret must not travel in a URL or a session.
                secret = made.secret
                form = TokenForm()
    context = {
        "form": form,
        "secret": secret,
        "tokens": tokens.user_tokens(request.user),
        "now": timezone.now(),
    }
    return render(request, "api/tokens.html", context)
