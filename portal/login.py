"""Password sign-in: django-axes throttling (settings' AXES_* block), PASSWORD_SIGN_IN, the page.

Failures are counted per pair of (normalised username, client address): too many lock that pair
for the cool-off, so a guesser elsewhere never locks the real user out of their own address.
"""

import math
from typing import TYPE_CHECKING

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.db.models import Field, Max
from django.http import HttpResponse
from django.utils import timezone
from ipware import ip as ipware

LOCKED_OUT = (
    "Too many failed sign-ins for this account from your address: signing in from here is "
    "locked for {minutes} more minute{s}, even with the right password. Try again then, or "
    "ask an administrator to unlock it (manage.py axes_reset_username {username}, or delete "
    "the entry in the admin's Access attempts)."
)


def _username_field() -> UsernameField:
    # The very field the sign-in forms clean the username with: strip, then NFKC.
    user_model = get_user_model()
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    max_length = field.max_length if isinstance(field, Field) else None
    return UsernameField(max_length=max_length or 254)


def lockout_username(request, credentials) -> str | None:
    """The username as the sign-in form and ModelBackend see it (AXES_USERNAME_CALLABLE).

    "victim ", " victim", "victim\\xa0" and full-width "ｖｉｃｔｉｍ" all sign in as "victim",
    so they all count against "victim". The lookup is case-sensitive (Django's default), so
    "Victim" is another account and keeps its own count.
    """
    field = get_user_model().USERNAME_FIELD
    if credentials:
        value = credentials.get(field, credentials.get("username"))
    else:
        data = getattr(request, "POST", None) or {}
        value = data.get(field)
    if not isinstance(value, str):
        return None
    username = _username_field().to_python(value)
    # AccessAttempt.username holds 255 characters; a longer name is no user's anyway.
    return username[:255] if username else None


def client_address(request) -> str | None:
    """The client's address, through settings.TRUSTED_PROXY_COUNT proxies (AXES_CLIENT_IP_CALLABLE).

    0: REMOTE_ADDR. N > 0: each trusted proxy appends the address it was reached from to
    X-Forwarded-For, so the client is the N-th entry from the right; whatever a client wrote
    further left is ignored. A request that did not come through the proxies (no header, or a
    chain too short) is keyed on REMOTE_ADDR.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        # django-ipware counts the proxies named inside the header: the last one appends
        # the address of its peer, not its own, so the header names proxies - 1 of them.
        address, _routable = ipware.get_client_ip(
            request,
            proxy_order="left-most",
            proxy_count=proxies - 1,
            request_header_order=("HTTP_X_FORWARDED_FOR",),
            strict=False,
        )
        if address:
            return address
    address, _routable = ipware.get_client_ip(
        request, request_header_order=("REMOTE_ADDR",), strict=False
    )
    return address


def not_a_password_attempt(request, credentials=None) -> bool:
    """True for a sign-in that checks no password (AXES_WHITELIST_CALLABLE): Entra ID's callback.

    The lock-out is against password guessing. Entra ID's callback (portal.entra) carries a code,
    a nonce and a PKCE verifier instead: its failures (a misconfigured secret, a replayed link)
    must not lock everyone behind the same address out of Entra ID sign-in.
    """
    return credentials is not None and "password" not in credentials and "nonce" in credentials


def _minutes_left(request, username: str | None) -> int:
    cool_off = get_cool_off(request)
    latest = AccessAttempt.objects.filter(
        username=username, ip_address=getattr(request, "axes_ip_address", None)
    ).aggregate(latest=Max("attempt_time"))["latest"]
    left = cool_off if latest is None else latest + cool_off - timezone.now()
    return max(1, math.ceil(left.total_seconds() / 60))


def lockout_message(request, credentials=None) -> str:
    username = get_client_username(request, credentials) or ""
    minutes = _minutes_left(request, username)
    return LOCKED_OUT.format(
        minutes=minutes, s="" if minutes == 1 else "s", username=username or "USERNAME"
    )


if TYPE_CHECKING:
    # The mixin goes in front of a sign-in form; the type checker sees it as one.
    _SignInForm = AuthenticationForm
else:
    _SignInForm = object


class LockoutMessageMixin(_SignInForm):
    """Say that the sign-in was refused by the lock-out, not by a wrong password."""

    def get_invalid_login_error(self) -> ValidationError:
        if getattr(self.request, "axes_locked_out", False):
            credentials = getattr(self.request, "axes_credentials", None) or {
                "username": self.cleaned_data.get("username")
            }
            return ValidationError(lockout_message(self.request, credentials), code="locked_out")
        return super().get_invalid_login_error()


PASSWORD_SIGN_IN_OFF = (
    "Signing in with a password is turned off: use “Sign in with Microsoft Entra ID”. "
    "(Only the break-glass administrator account may use a password.)"
)


class PasswordSignInMixin(_SignInForm):
    """With PASSWORD_SIGN_IN=false, only superusers (the break-glass account) get past the form."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not settings.PASSWORD_SIGN_IN and not user.is_superuser:
            raise ValidationError(PASSWORD_SIGN_IN_OFF, code="password_sign_in_off")


class PortalAuthenticationForm(LockoutMessageMixin, PasswordSignInMixin, AuthenticationForm):
    pass


class PortalAdminAuthenticationForm(
    LockoutMessageMixin, PasswordSignInMixin, AdminAuthenticationForm
):
    pass


class PortalLoginView(LoginView):
    """The sign-in page: the password form, and Entra ID's button when it is configured."""

    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["entra_sign_in"] = settings.ENTRA_SIGN_IN
        context["password_sign_in"] = settings.PASSWORD_SIGN_IN
        return context


def _shows_lockout(response) -> bool:
    form = (getattr(response, "context_data", None) or {}).get("form")
    return form is not None and form.has_error("__all__", code="locked_out")


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page with the lock-out message, as 429 (AXES_LOCKOUT_CALLABLE).

    AxesMiddleware calls this for every request that axes refused; the portal's and the
    admin's sign-in forms already rendered the message, so only the status changes.
    """
    if original_response is not None and _shows_lockout(original_response):
        original_response.status_code = settings.AXES_HTTP_RESPONSE_CODE
        return original_response
    return HttpResponse(
        lockout_message(request, credentials),
        status=settings.AXES_HTTP_RESPONSE_CODE,
        content_type="text/plain; charset=utf-8",
    )


class AxesBackend(AxesStandaloneBackend):
    """axes' check, first in AUTHENTICATION_BACKENDS; it lets request-less calls through.

    Every web sign-in passes its request (Django's LoginView and the admin's do). A call
    without one (the test client's login(), a script) has no client address to count
    against, and axes' own backend would raise instead of answering.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
