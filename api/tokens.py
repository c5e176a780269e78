"""Personal API tokens: made with a lifetime, shown once, found by their hash, revoked."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from portal import audit
from portal.secret_digest import digest
from portal.services import check_text, column_length

PREFIX = "acsp_"
MAX_DAYS = 365
DAYS_RANGE = f"A token lives between 1 and {MAX_DAYS} days."
NAME_REQUIRED = "Give the token a name, so you can tell it from your others."
# last_used_at is written at most this often: not a write per request.
USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    # The secret itself: shown to its owner once, kept nowhere.
    secret: str


def token_create(*, user, name: str, days: int) -> NewToken:
    """A new token of `user`'s, expiring in `days` days (1 to MAX_DAYS)."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    check_text(name, "name", "The name", max_length=column_length(ApiToken, "name"))
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": DAYS_RANGE})
    secret = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[: len(PREFIX) + 6],
            sha256=digest(secret),
            expires_at=timezone.now() + timedelta(days=days),
        )
        audit.record(
            action="portal.api_token.created",
            actor=user,
            target=token,
            changes=audit.diff({}, {"name": name, "expires_at": token.expires_at}),
        )
    return NewToken(token=token, secret=secret)


def token_revoke(*, user, pk: int) -> ApiToken | None:
    """Revoke one of the user's own tokens; None when they have no such live token."""
    with transaction.atomic():
        token = (
            ApiToken.objects.select_for_update()
            .filter(pk=pk, user=user, revoked_at__isnull=True)
            .first()
        )
        if token is None:
            return None
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(action="portal.api_token.revoked", actor=user, target=token)
    return token


def user_tokens(user):
    return ApiToken.objects.filter(user=user)


def authenticate(secret: str):
    """The active user a live token belongs to, or None (unknown, expired, revoked)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(sha256=digest(secret), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= USE_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
