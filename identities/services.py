"""The only writers of ACS identities; token calls reach ACS at once: a token is shown once."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

import acs_gateway as acs
from identities.events import identity_deleting
from identities.models import Identity, TokenScope
from identities.sync import (
    book_of,
    first_sent,
    mark_identities_made,
    mark_identity_dirty,
    push_identity,
)
from outbox.engine import outcome_of
from outbox.models import SyncState
from portal import audit
from portal.services import check_text, column_length, require

NAME_REQUIRED = "Give the person's name."
NAME_TOO_LONG = "A name can have at most 200 characters."
SCOPES_REQUIRED = "Choose at least one scope."
UNKNOWN_SCOPE = (
    "Unknown scope {scope!r}: choose from chat, voip, chat.join, chat.join.limited, voip.join."
)
MINUTES_RANGE = "A token lives between 60 and 1440 minutes (24 hours)."
IDENTITY_GONE = "This identity has been deleted."
ACS_FAILED = "ACS did not answer as expected ({error}); nothing was changed. Try again shortly."
EMAIL_TAKEN = "An identity with the e-mail {email} exists already."
ORPHAN_MAY_REMAIN = (
    "An ACS user made by create request {request_id} (first sent {first_sent}) may remain in "
    "ACS unused: that create got no answer, and ACS cannot list users to find it."
)


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
    email = check_text(
        (email or "").strip().lower(),
        "email",
        "The e-mail address",
        max_length=column_length(Identity, "email"),
    )
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"email": f"{email!r} is not a valid e-mail address."}) from None
    return display_name, email


def identity_create(*, actor, display_name: str, email: str = "", user=None) -> Identity:
    """Register a person; the sync creates their ACS user in the background.

    An e-mail is one live identity's, whatever its case; the database holds to that, so two
    requests racing for the same new e-mail get one identity and one ValidationError.
    """
    require(actor, "identities.add_identity", "create identities")
    display_name, email = _clean_person(display_name, email)
    if email and _live_with_email(email) is not None:
        raise ValidationError({"email": EMAIL_TAKEN.format(email=email)})
    try:
        # A savepoint when called inside a transaction: losing the race leaves it usable.
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
    except IntegrityError:
        if email and _live_with_email(email) is not None:
            raise ValidationError({"email": EMAIL_TAKEN.format(email=email)}) from None
        raise
    return identity


def identity_find_or_create(*, actor, person: NewPerson) -> Identity:
    """The live identity with this e-mail, or a new one (used when adding people to rooms).

    Race-safe: when another request creates the same e-mail's identity first, this one returns
    that identity (the database refuses the second, and the savepoint keeps the caller's
    transaction going).
    """
    display_name, email = _clean_person(person.display_name, person.email)
    if email:
        existing = _live_with_email(email)
        if existing is not None:
            return existing
    try:
        return identity_create(actor=actor, display_name=display_name, email=email)
    except ValidationError:
        winner = _live_with_email(email) if email else None
        if winner is None:
            raise
        return winner


def _live_with_email(email: str) -> Identity | None:
    """The live identity with this e-mail in any case (the one the constraint allows)."""
    return (
        Identity.objects.filter(deleted_at__isnull=True)
        .exclude(email="")
        .alias(email_key=Lower("email"))
        .filter(email_key=email.lower())
        .first()
    )


def identity_retry_sync(*, actor, identity: Identity) -> Identity:
    """Push an identity to ACS now, also one that stopped (its ACS user not created).

    A create that stopped starts again under a new request id. If it stopped because a try got
    no answer and ACS no longer replays it, ACS may hold a user made for it that nothing can
    find (ACS cannot list users): the new create leaves that one behind, and the history says so.
    """
    require(actor, "identities.change_identity", "retry creating ACS users")

    with transaction.atomic():
        current = _live(identity)
        changes: dict = {}
        book = book_of(current)
        new_book: dict | None = None
        if (
            not current.raw_id
            and book.get("create_request_id") is not None
            and current.sync.state == SyncState.STOPPED
        ):
            if book.get("create_unanswered"):
                sent_at = first_sent(book)
                changes["orphan_may_remain"] = {
                    "before": None,
                    "after": ORPHAN_MAY_REMAIN.format(
                        request_id=book["create_request_id"],
                        first_sent=sent_at.isoformat(timespec="seconds") if sent_at else "-",
                    ),
                }
            changes["create_request_id"] = {"before": book["create_request_id"], "after": None}
            # A new create, under a new request id at its first send.
            new_book = {}
        audit.record(
            action="portal.identity.sync_requested", actor=actor, target=current, changes=changes
        )
        mark_identity_dirty(current.pk, reset_attempts=True, book=new_book)
    current.refresh_from_db()
    return current


def _live(identity: Identity) -> Identity:
    current = Identity.objects.select_for_update().filter(pk=identity.pk).first()
    if current is None or current.deleted_at is not None:
        raise ValidationError(IDENTITY_GONE)
    return current


def _ensure_in_acs(identity: Identity) -> Identity:
    """Token calls need the ACS user now: push a pending create first."""
    if identity.raw_id:
        return identity

    push_identity(identity.pk)
    identity.refresh_from_db()
    if not identity.raw_id:
        error = identity.sync.last_error if identity.sync else ""
        raise ValidationError(ACS_FAILED.format(error=error or "user not created"))
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
    raw_id = identity.raw_id
    assert raw_id is not None  # _ensure_in_acs() returns only identities ACS has created
    attempts: list = []
    try:
        token, expires_on = acs.get_gateway().issue_token(
            raw_id, list(scopes), minutes, on_attempt=attempts.append
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
    """Delete the identity (ACS deletes the user and its tokens); the apps above take it out of
    what they hold first (identity_deleting: rooms removes it from every room)."""
    require(actor, "identities.delete_identity", "delete identities")
    with transaction.atomic():
        current = _live(identity)
        identity_deleting.send(sender=Identity, actor=actor, identity=current)
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


def identities_find_or_create(
    *, actor, people: Iterable[NewPerson], events: list | None = None
) -> list[Identity]:
    """find-or-create for many people at once, in order: a few queries, however many people.

    The live identity with each e-mail is found in one query; the others are made with one
    INSERT and their events appended together (audit.append locks the chain head only from
    there to the commit), or added to `events` for the caller to append with its own, last.
    Someone else creating one of the same e-mails meanwhile makes the INSERT fail as a whole
    on the e-mail constraint; it is then tried again, finding theirs.
    """
    cleaned = [_clean_person(person.display_name, person.email) for person in people]
    for _attempt in range(3):
        found = _live_by_email({email for _, email in cleaned if email})
        new: dict[str, Identity] = {}
        result: list[Identity] = []
        for display_name, email in cleaned:
            identity = found.get(email) if email else None
            if identity is None and email in new:
                identity = new[email]
            if identity is None:
                identity = Identity(display_name=display_name, email=email, created_by=actor)
                new[email or f"#{len(new)}"] = identity
            result.append(identity)
        if not new:
            return result
        require(actor, "identities.add_identity", "create identities")
        try:
            with transaction.atomic():
                # bulk_create fires no post_save and queues nothing: their outbox rows start
                # pending, and the push of the room they join creates their ACS users first
                # (rooms.sync ensures identities); the sweep catches any left behind.
                created = Identity.objects.bulk_create(list(new.values()))
                mark_identities_made([identity.pk for identity in created])
        except IntegrityError:
            continue
        made = [
            audit.event(
                action="portal.identity.created",
                actor=actor,
                target=identity,
                changes=audit.diff(
                    {}, {"display_name": identity.display_name, "email": identity.email}
                ),
            )
            for identity in created
        ]
        if events is None:
            audit.append(made)
        else:
            events.extend(made)
        return result
    raise ValidationError("Others are adding the same people right now; try again.")


def _live_by_email(emails: set[str]) -> dict[str, Identity]:
    if not emails:
        return {}
    return {
        identity.email.lower(): identity
        for identity in Identity.objects.filter(deleted_at__isnull=True)
        .alias(email_key=Lower("email"))
        .filter(email_key__in=sorted(emails))
    }
