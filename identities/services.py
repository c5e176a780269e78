"""The only writers of ACS identities; token calls reach ACS at once: a token is shown once."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from identities.models import Identity, TokenScope
from portal import acs, audit
from portal.services import check_text, require
from portal.sync import outcome_of

NAME_REQUIRED = "Give the person's name."
NAME_TOO_LONG = "A name can have at most 200 characters."
SCOPES_REQUIRED = "Choose at least one scope."
UNKNOWN_SCOPE = (
    "Unknown scope {scope!r}: choose from chat, voip, chat.join, chat.join.limited, voip.join."
)
MINUTES_RANGE = "A token lives between 60 and 1440 minutes (24 hours)."
IDENTITY_GONE = "This identity has been deleted."
ACS_FAILED = "ACS did not answer as expected ({error}); nothing was changed. Try again shortly."


@dataclass(frozen=True)
class NewPerson:
    """Someone to add who may have no identity yet: found by e-mail, or created."""

    display_name: str
    email: str = ""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_on: object
    scopes: tuple[str, ...]


def _clean_person(display_name: str, email: str) -> tuple[str, str]:
    display_name = " ".join((display_name or "").split())
    if not display_name:
        raise ValidationError({"display_name": NAME_REQUIRED})
    if len(display_name) > 200:
        raise ValidationError({"display_name": NAME_TOO_LONG})
    check_text(display_name, "display_name", "The name")
    email = check_text((email or "").strip().lower(), "email", "The e-mail address")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"email": f"{email!r} is not a valid e-mail address."}) from None
    return display_name, email


def identity_create(*, actor, display_name: str, email: str = "", user=None) -> Identity:
    """Register a person; the sync creates their ACS user in the background."""
    require(actor, "identities.add_identity", "create identities")
    display_name, email = _clean_person(display_name, email)
    if email and Identity.objects.filter(email=email, deleted_at__isnull=True).exists():
        raise ValidationError({"email": f"An identity with the e-mail {email} exists already."})
    with transaction.atomic():
        identity = Identity.objects.create(
            display_name=display_name, email=email, user=user, created_by=actor
        )
        audit.record(
            action="portal.identity.created",
            actor=actor,
            target=identity,
            changes=audit.diff({}, {"display_name": display_name, "email": email}),
        )
    return identity


def identity_find_or_create(*, actor, person: NewPerson) -> Identity:
    """The live identity with this e-mail, or a new one (used when adding people to rooms)."""
    display_name, email = _clean_person(person.display_name, person.email)
    if email:
        existing = Identity.objects.filter(email=email, deleted_at__isnull=True).first()
        if existing is not None:
            return existing
    return identity_create(actor=actor, display_name=display_name, email=email)


def _live(identity: Identity) -> Identity:
    current = Identity.objects.select_for_update().filter(pk=identity.pk).first()
    if current is None or current.deleted_at is not None:
        raise ValidationError(IDENTITY_GONE)
    return current


def _ensure_in_acs(identity: Identity) -> Identity:
    """Token calls need the ACS user now: push a pending create first."""
    if identity.raw_id:
        return identity
    from identities.sync import push_identity

    push_identity(identity.pk)
    identity.refresh_from_db()
    if not identity.raw_id:
        raise ValidationError(ACS_FAILED.format(error=identity.sync_error or "user not created"))
    return identity


def identity_issue_token(
    *, actor, identity: Identity, scopes: Iterable[str], minutes: int = 1440
) -> IssuedToken:
    """Issue an access token and return it once; only its scopes and expiry are kept."""
    require(actor, "identities.issue_token", "issue access tokens")
    scopes = tuple(dict.fromkeys(scopes))
    if not scopes:
        raise ValidationError({"scopes": SCOPES_REQUIRED})
    for scope in scopes:
        if scope not in TokenScope.values:
            raise ValidationError({"scopes": UNKNOWN_SCOPE.format(scope=scope)})
    if not isinstance(minutes, int) or not 60 <= minutes <= 1440:
        raise ValidationError({"minutes": MINUTES_RANGE})
    identity = _ensure_in_acs(_live_unlocked(identity))
    attempts: list = []
    try:
        token, expires_on = acs.get_gateway().issue_token(
            identity.raw_id, list(scopes), minutes, on_attempt=attempts.append
        )
    except acs.AcsError as exc:
        _record_attempts(identity, "acs.identity.token_issue_failed", attempts)
        raise ValidationError(ACS_FAILED.format(error=exc)) from exc
    with transaction.atomic():
        current = _live(identity)
        current.token_scopes = list(scopes)
        current.token_expires_at = expires_on
        current.tokens_issued_at = timezone.now()
        current.save(update_fields=["token_scopes", "token_expires_at", "tokens_issued_at"])
        audit.record(
            action="portal.identity.token_issued",
            actor=actor,
            target=current,
            changes={
                "scopes": {"before": None, "after": list(scopes)},
                "expires_on": {"before": None, "after": expires_on},
            },
            acs_outcome=_outcome(attempts),
        )
    return IssuedToken(token=token, expires_on=expires_on, scopes=scopes)


def identity_revoke_tokens(*, actor, identity: Identity) -> Identity:
    """Revoke every token issued to the identity so far, in ACS at once."""
    require(actor, "identities.revoke_tokens", "revoke access tokens")
    identity = _live_unlocked(identity)
    attempts: list = []
    if identity.raw_id:
        try:
            acs.get_gateway().revoke_tokens(identity.raw_id, on_attempt=attempts.append)
        except acs.AcsError as exc:
            _record_attempts(identity, "acs.identity.revoke_failed", attempts)
            raise ValidationError(ACS_FAILED.format(error=exc)) from exc
    with transaction.atomic():
        current = _live(identity)
        current.tokens_revoked_at = timezone.now()
        current.token_expires_at = None
        current.token_scopes = []
        current.save(update_fields=["tokens_revoked_at", "token_expires_at", "token_scopes"])
        audit.record(
            action="portal.identity.tokens_revoked",
            actor=actor,
            target=current,
            acs_outcome=_outcome(attempts),
        )
    return current


def identity_delete(*, actor, identity: Identity) -> Identity:
    """Take the identity out of every room, then delete it (ACS deletes the user and its tokens)."""
    require(actor, "identities.delete_identity", "delete identities")
    # Imported here: rooms.services imports this module to add new people.
    from rooms.models import Participant
    from rooms.services import remove_participant

    with transaction.atomic():
        current = _live(identity)
        for participant in Participant.objects.select_related("identity").filter(identity=current):
            remove_participant(actor=actor, participant=participant)
        current.deleted_at = timezone.now()
        current.save(update_fields=["deleted_at", "updated_at"])
        audit.record(
            action="portal.identity.deleted",
            actor=actor,
            target=current,
            changes=audit.diff({"display_name": current.display_name, "email": current.email}, {}),
        )
    return current


def _live_unlocked(identity: Identity) -> Identity:
    current = Identity.objects.filter(pk=identity.pk).first()
    if current is None or current.deleted_at is not None:
        raise ValidationError(IDENTITY_GONE)
    return current


def _outcome(attempts: list) -> dict:
    return outcome_of(attempts[-1]) if attempts else {}


def _record_attempts(identity: Identity, action: str, attempts: list) -> None:
    with transaction.atomic():
        audit.record(action=action, target=identity, acs_outcome=_outcome(attempts))
