"""Sign-in with Entra ID: mozilla-django-oidc's code flow, with the portal's users and groups.

A user is the Entra user with this tenant id and object id (EntraAccount), never whoever has
the same e-mail or name. At every sign-in the ID token's `groups` and `roles` claims decide the
mapped portal groups (settings.ENTRA.group_map) exactly; groups outside the mapping are left to
the administrators; `is_staff` follows the mapped groups; superuser is never granted.
"""

import logging

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal import audit
from portal.models import EntraAccount

logger = logging.getLogger(__name__)

SIGN_IN_FAILED = "Signing in with Entra ID failed: {reason} Try again, or ask an administrator."
ENTRA_REFUSED = "Entra ID refused the sign-in ({error}: {description})."
FLOW_EXPIRED = (
    "this sign-in was not started here, or was already used (a reload, a second tab, an old link)."
)
BAD_TOKEN = "the identity token Entra ID sent could not be trusted ({detail})."
TOKEN_ENDPOINT = "Entra ID did not redeem the sign-in code ({detail})."
MISSING_CLAIMS = "the identity token lacks {claims}."
USERNAME_TAKEN = (
    "a portal account named {username!r} already exists and is not linked to this Entra ID "
    "user, so it is not taken over."
)
INACTIVE = "this portal account is deactivated."
GROUPS_OVERAGE = (
    "Entra ID sent no list of groups, as it does for someone in more than 200 of them, so the "
    "portal cannot tell which groups apply (an administrator can assign the groups to the "
    "application, or map app roles instead)."
)
# The callback view reads the backend's reason from the request.
_REASON = "entra_failure_reason"
# Claims the portal needs on every ID token.
REQUIRED_CLAIMS = ("oid", "tid", "preferred_username")


def _refuse(request: HttpRequest | None, reason: str) -> None:
    if request is not None:
        setattr(request, _REASON, reason)


class EntraBackend(OIDCAuthenticationBackend):
    """Turn a verified Entra ID token into the portal user it names, with its groups."""

    def authenticate(self, request, **kwargs):
        # Only the callback carries a code and state; a password form's call is not ours.
        if request is None or "code" not in request.GET:
            return None
        try:
            user = super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:
            logger.warning("Entra ID sign-in refused: %s", exc)
            reason = exc.reason if isinstance(exc, EntraRefusal) else BAD_TOKEN.format(detail=exc)
            _refuse(request, reason)
            return None
        except requests.RequestException as exc:
            logger.warning("Entra ID token endpoint failed: %s", exc)
            _refuse(request, TOKEN_ENDPOINT.format(detail=_endpoint_error(exc)))
            return None
        if user is not None and not user.is_active:
            _refuse(request, INACTIVE)
            return None
        return user

    def get_payload_data(self, token, key):
        """Check the signature, audience, issuer, tenant and lifetime; the nonce is checked next."""
        config = settings.ENTRA
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=config.client_id,
                issuer=config.authority,
                leeway=60,
                options={"require": ["exp", "iat", "iss", "aud", *REQUIRED_CLAIMS]},
            )
        except jwt.PyJWTError as exc:
            raise EntraRefusal(BAD_TOKEN.format(detail=exc)) from exc
        if claims["tid"] != config.tenant_id:
            raise EntraRefusal(BAD_TOKEN.format(detail=f"tenant {claims['tid']} is not this one"))
        return claims

    def verify_token(self, token, **kwargs):
        try:
            return super().verify_token(token, **kwargs)
        except EntraRefusal:
            raise
        except SuspiciousOperation as exc:
            # The library's own refusals: the nonce, the key, the algorithm.
            raise EntraRefusal(BAD_TOKEN.format(detail=str(exc).rstrip("."))) from exc

    def get_or_create_user(self, access_token, id_token, payload):
        try:
            return super().get_or_create_user(access_token, id_token, payload)
        except EntraRefusal as exc:
            # The library turns this into a bare None; keep the reason for the login page.
            _refuse(self.request, exc.reason)
            raise

    def get_userinfo(self, access_token, id_token, payload):
        # The verified ID token holds oid, tid, groups and roles; Entra's userinfo (on Graph)
        # would hold none of them.
        return payload

    def verify_claims(self, claims):
        missing = [name for name in REQUIRED_CLAIMS if not claims.get(name)]
        if missing:
            raise EntraRefusal(MISSING_CLAIMS.format(claims=", ".join(missing)))
        # Without the list, re-applying the groups would take away every mapped one.
        if "groups" in (claims.get("_claim_names") or {}):
            raise EntraRefusal(GROUPS_OVERAGE)
        return True

    def filter_users_by_claims(self, claims):
        return get_user_model().objects.filter(
            entra_account__tenant_id=claims["tid"], entra_account__object_id=claims["oid"]
        )

    def create_user(self, claims):
        username = claims["preferred_username"]
        user_model = get_user_model()
        with transaction.atomic():
            if user_model.objects.filter(username=username).exists():
                raise EntraRefusal(USERNAME_TAKEN.format(username=username))
            user = user_model(username=username)
            _fill_profile(user, claims)
            # Entra ID holds the credentials; the portal never accepts a password for them.
            user.set_unusable_password()
            user.save()
            EntraAccount.objects.create(user=user, tenant_id=claims["tid"], object_id=claims["oid"])
            audit.record(
                action="portal.user.created_from_entra",
                target=user,
                actor=user,
                changes={"tenant_id": claims["tid"], "object_id": claims["oid"]},
            )
            apply_groups(user, claims)
        return user

    def update_user(self, user, claims):
        with transaction.atomic():
            _fill_profile(user, claims)
            user.save(update_fields=["first_name", "last_name", "email"])
            apply_groups(user, claims)
        return user


class EntraRefusal(SuspiciousOperation):
    """A sign-in refused for a reason the person is told on the login page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _endpoint_error(exc: requests.RequestException) -> str:
    response = exc.response
    if response is None:
        return type(exc).__name__
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    description = str(body.get("error_description", "")).split("\n")[0]
    return f"{body.get('error', response.status_code)}: {description}".strip(": ")


def _fill_profile(user, claims: dict) -> None:
    given, family = claims.get("given_name"), claims.get("family_name")
    if not (given or family) and claims.get("name"):
        given, _, family = str(claims["name"]).partition(" ")
    user.first_name = (given or "")[:150]
    user.last_name = (family or "")[:150]
    # `email` is optional in Entra (a user without a mailbox); keep what is known.
    user.email = claims.get("email") or user.email


def groups_from_claims(claims: dict, group_map: dict[str, str]) -> set[str]:
    """The portal groups the token's `groups` and `roles` claims map to."""
    named = [*(claims.get("groups") or []), *(claims.get("roles") or [])]
    return {group_map[value] for value in named if isinstance(value, str) and value in group_map}


def apply_groups(user, claims: dict) -> None:
    """Make the user's mapped groups exactly what the claims say; record a change."""
    group_map = settings.ENTRA.group_map
    mapped = set(group_map.values())
    wanted = groups_from_claims(claims, group_map)
    before = set(user.groups.values_list("name", flat=True))
    after = (before - mapped) | wanted
    was_staff = user.is_staff
    user.is_staff = bool(wanted)
    if after != before:
        user.groups.set(Group.objects.filter(name__in=after))
    if was_staff != user.is_staff:
        user.save(update_fields=["is_staff"])
    if after != before or was_staff != user.is_staff:
        audit.record(
            action="portal.user.groups_changed_by_entra",
            target=user,
            actor=user,
            changes={
                "groups": [sorted(before), sorted(after)],
                "is_staff": [was_staff, user.is_staff],
            },
        )


class EntraSignInView(OIDCAuthenticationRequestView):
    """Send the browser to Entra ID's sign-in page."""


class EntraCallbackView(OIDCAuthenticationCallbackView):
    """Entra ID sends the browser back here: sign the user in, or say on the login page why not."""

    def get(self, request):
        if request.GET.get("error"):
            _refuse(
                request,
                ENTRA_REFUSED.format(
                    error=request.GET["error"],
                    description=request.GET.get("error_description", "").split("\n")[0],
                ),
            )
        try:
            return super().get(request)
        except SuspiciousOperation:
            # A state this session never issued: a replay, or a flow started elsewhere.
            _refuse(request, FLOW_EXPIRED)
            return self.login_failure()

    def login_failure(self) -> HttpResponse:
        reason = getattr(self.request, _REASON, None) or FLOW_EXPIRED
        messages.error(self.request, SIGN_IN_FAILED.format(reason=reason))
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        audit.record(
            action="portal.user.signed_in_with_entra",
            target=self.user,
            actor=self.user,
            changes={"groups": sorted(self.user.groups.values_list("name", flat=True))},
        )
        return response


def _entra_view(view_class):
    # The library's views read their settings when made, so the 404 comes before.
    view = view_class.as_view()

    @login_not_required
    def entra_view(request: HttpRequest) -> HttpResponse:
        if not settings.ENTRA_SIGN_IN:
            raise Http404("Sign-in with Entra ID is not configured.")
        return view(request)

    return entra_view


# The URLs' views (404 while Entra sign-in is off); the callback is the app's redirect URI.
sign_in = _entra_view(EntraSignInView)
callback = _entra_view(EntraCallbackView)
