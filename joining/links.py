"""Personal join links: made, found, revoked and regenerated; the URL's secret is never stored.

The secret is HMAC-SHA256(SECRET_KEY, nonce), 256 bits in URL-safe base64. The row keeps the
nonce (so the link can be written into an e-mail whenever needed) and the secret's SHA-256 (so
a visit is found by an indexed equality, not by comparing secrets one by one). A copy of the
database alone yields no link; a new SECRET_KEY ends every link.
"""

import base64
import hmac
import re
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.crypto import salted_hmac

from joining.models import JoinLink
from portal import audit
from portal.secret_digest import digest
from portal.services import require
from rooms.models import Participant

# A link lets its holder into the room as that person, as adding them did: whoever may add
# people to rooms may see, make and revoke their links.
MANAGE_LINKS = ("rooms.add_participant", "manage join links")
_SALT = "joining.links.secret"
# What secret_of() makes: 32 bytes in URL-safe base64 without padding.
_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
NOT_IN_ROOM = "This person is no longer in the room."
ROOM_GONE = "This room has been deleted."


def secret_of(nonce: str) -> str:
    """The URL secret of the link with this nonce."""
    mac = salted_hmac(_SALT, nonce, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _url(link: JoinLink) -> str:
    path = reverse("joining:join", kwargs={"secret": secret_of(link.nonce)})
    return settings.PORTAL_BASE_URL + path


def _new_link(participant: Participant, actor) -> JoinLink:
    nonce = secrets.token_urlsafe(32)
    return JoinLink.objects.create(
        participant=participant,
        nonce=nonce,
        secret_hash=digest(secret_of(nonce)),
        created_by=actor,
    )


def _event(action: str, participant: Participant, actor, **changes) -> audit.AuditEvent:
    # The target is the participant, so the room's history shows it; never the secret.
    return audit.event(
        action=action,
        actor=actor,
        target=participant,
        room_id=participant.room_id,
        changes={name: {"before": None, "after": value} for name, value in changes.items()},
    )


def _live_participant(participant: Participant) -> Participant:
    current = Participant.objects.select_related("room", "identity").filter(pk=participant.pk)
    found = current.first()
    if found is None:
        raise ValidationError(NOT_IN_ROOM)
    if found.room.deleted_at is not None:
        raise ValidationError(ROOM_GONE)
    return found


def link_for(participant: Participant) -> str:
    """The absolute URL of the participant's current link, made if they have none.

    For code acting for the system (invitations): no actor, no permission, no audit event (the
    link is the participant's own way in, which their being added recorded; staff acts on links
    are audited). Raises ValidationError when the person has left the room or it is deleted.
    """
    existing = JoinLink.objects.filter(participant_id=participant.pk).first()
    if existing is not None:
        return _url(existing)
    current = _live_participant(participant)
    try:
        with transaction.atomic():
            link = _new_link(current, None)
    except IntegrityError:
        # Someone made it meanwhile (one link per participant): theirs is the link.
        theirs = JoinLink.objects.filter(participant_id=participant.pk).first()
        if theirs is None:
            raise ValidationError(NOT_IN_ROOM) from None
        return _url(theirs)
    return _url(link)


def regenerate(participant: Participant, *, actor) -> str:
    """Give the participant a new link (the old one stops working); returns its URL."""
    require(actor, *MANAGE_LINKS)
    with transaction.atomic():
        current = _live_participant(participant)
        had_one = JoinLink.objects.filter(participant=current).delete()[0] > 0
        link = _new_link(current, actor)
        action = "portal.join_link.regenerated" if had_one else "portal.join_link.created"
        audit.append([_event(action, current, actor)])
    return _url(link)


def revoke(
    participant_or_ids: Participant | Iterable[int | Participant], *, actor, reason: str = ""
) -> int:
    """Revoke the links of one participant or of several (ids or instances); returns how many
    links there were. A participant without a link is no error: there is nothing to revoke."""
    require(actor, *MANAGE_LINKS)
    items = (
        [participant_or_ids] if isinstance(participant_or_ids, Participant) else participant_or_ids
    )
    ids = [item.pk if isinstance(item, Participant) else int(item) for item in items]
    with transaction.atomic():
        links = list(
            JoinLink.objects.select_for_update()
            .select_related("participant__identity", "participant__room")
            .filter(participant_id__in=ids)
        )
        events = [
            _event("portal.join_link.revoked", link.participant, actor, reason=reason or None)
            for link in links
        ]
        JoinLink.objects.filter(pk__in=[link.pk for link in links]).delete()
        audit.append(events)
    return len(links)


def find(secret: str) -> JoinLink | None:
    """The live link with this secret, with its participant, room and identity; None for a
    malformed, unknown, revoked or tampered secret, a deleted room or a deleted identity alike."""
    if not _SECRET_SHAPE.match(secret or ""):
        return None
    link = (
        JoinLink.objects.select_related("participant__room__owner", "participant__identity")
        .filter(secret_hash=digest(secret))
        .first()
    )
    # The hash matched; the HMAC proves the link was made under this SECRET_KEY.
    if link is None or not hmac.compare_digest(secret_of(link.nonce), secret):
        return None
    participant = link.participant
    if participant.room.deleted_at is not None or participant.identity.deleted_at is not None:
        return None
    return link


def url_of(link: JoinLink) -> str:
    """The absolute URL of an existing link (the room page's panel shows it to staff)."""
    return _url(link)
