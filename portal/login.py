"""Sign-in throttling: after repeated failures a username (or an address) must wait."""

from datetime import timedelta

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from portal.models import LoginFailure

WINDOW = timedelta(minutes=15)
# Per username: slows a guesser down to a few tries per quarter hour. Per address: a higher
# bar, because one office may share an address.
MAX_PER_USERNAME = 5
MAX_PER_ADDRESS = 20
TOO_MANY = (
    "Too many failed sign-ins for this account or from this address. "
    "Wait {minutes} minutes and try again, or ask an administrator to reset your password."
)


def _address(request) -> str | None:
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def is_throttled(request, username: str) -> bool:
    recent = LoginFailure.objects.filter(at__gte=timezone.now() - WINDOW)
    if recent.filter(username=username.lower()).count() >= MAX_PER_USERNAME:
        return True
    address = _address(request)
    return bool(address) and recent.filter(address=address).count() >= MAX_PER_ADDRESS


def record_failure(request, username: str) -> None:
    now = timezone.now()
    LoginFailure.objects.create(username=username.lower()[:150], address=_address(request), at=now)
    # Keep the table small: failures older than the window no longer count.
    LoginFailure.objects.filter(at__lt=now - WINDOW).delete()


def clear_failures(username: str) -> None:
    LoginFailure.objects.filter(username=username.lower()).delete()


class ThrottleMixin:
    """Refuse to check the password at all while throttled, so guessing gains nothing."""

    def clean(self):
        username = self.data.get("username", "") or ""
        if is_throttled(self.request, username):
            raise forms.ValidationError(
                TOO_MANY.format(minutes=int(WINDOW.total_seconds() // 60)), code="throttled"
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            record_failure(self.request, username)
            raise
        clear_failures(username)
        return cleaned


class ThrottledAuthenticationForm(ThrottleMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottleMixin, AdminAuthenticationForm):
    pass
