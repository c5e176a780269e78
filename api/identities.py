"""Identities: list, create, get, issue an access token (returned once), revoke tokens, delete."""

from datetime import datetime
from typing import Literal

from django.http import Http404
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.errors import Gone
from api.paging import PageMeta, page_body
from api.parsing import Id
from identities import selectors, services
from identities.models import Identity
from portal.paging import LAST_PAGE_ASKED
from portal.services import require

router = Router(tags=["identities"])

PER_PAGE = 25
Scope = Literal["chat", "voip", "chat.join", "chat.join.limited", "voip.join"]


class IdentityOut(Schema):
    id: int
    display_name: str
    email: str
    acs_id: str | None
    sync_state: str | None
    sync_error: str
    token_scopes: list[str]
    token_expires_at: datetime | None
    tokens_issued_at: datetime | None
    tokens_revoked_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None


class IdentityListItem(IdentityOut):
    room_count: int


class IdentityPage(PageMeta):
    items: list[IdentityListItem]


class IdentityFilterParams(Schema):
    q: str = Field("", max_length=200, description="Name, e-mail or ACS id")
    show_deleted: bool = False
    page: int = Field(1, ge=1, le=LAST_PAGE_ASKED)


class IdentityCreate(Schema):
    display_name: str
    email: str = ""


class TokenRequest(Schema):
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    minutes: int = Field(1440, ge=60, le=1440)


class IssuedToken(Schema):
    # Shown in this answer only: the portal keeps the scopes and expiry, never the token.
    token: str | None
    expires_on: datetime
    scopes: list[str]


def identity_out(identity: Identity) -> dict:
    sync = getattr(identity, "sync", None)
    data = {
        "id": identity.pk,
        "display_name": identity.display_name,
        "email": identity.email,
        "acs_id": identity.raw_id,
        "sync_state": sync.state if sync else None,
        "sync_error": sync.last_error if sync else "",
        "token_scopes": list(identity.token_scopes or []),
        "token_expires_at": identity.token_expires_at,
        "tokens_issued_at": identity.tokens_issued_at,
        "tokens_revoked_at": identity.tokens_revoked_at,
        "created_at": identity.created_at,
        "deleted_at": identity.deleted_at,
    }
    if hasattr(identity, "room_count"):
        data["room_count"] = identity.room_count
    return data


def _identity(actor, pk: int, *, live: bool = True) -> Identity:
    require(actor, "identities.view_identity", "view identities")
    identity = selectors.identity_get(pk)
    if identity is None:
        raise Http404("No such identity.")
    if live and identity.deleted_at is not None:
        raise Gone(services.IDENTITY_GONE)
    return identity


@router.get("/identities", response=IdentityPage, summary="List identities")
def identity_list(request, filters: Query[IdentityFilterParams]):
    actor = request.auth
    require(actor, "identities.view_identity", "view identities")
    page = selectors.identity_page(
        search=filters.q, show_deleted=filters.show_deleted, number=filters.page, per_page=PER_PAGE
    )
    return page_body(page, [identity_out(identity) for identity in page.object_list])


@router.post("/identities", response={201: IdentityOut}, summary="Create an identity")
def identity_create(request, data: IdentityCreate):
    """The ACS user is created in the background: sync_state says when ACS has it."""
    actor = request.auth
    identity = services.identity_create(
        actor=actor, display_name=data.display_name, email=data.email
    )
    return Status(201, identity_out(_identity(actor, identity.pk)))


@router.get("/identities/{identity_id}", response=IdentityOut, summary="Get an identity")
def identity_get(request, identity_id: Id):
    """Deleted identities too (deleted_at set): they stay for the history."""
    return identity_out(_identity(request.auth, identity_id, live=False))


@router.post(
    "/identities/{identity_id}/tokens",
    response={201: IssuedToken},
    summary="Issue an access token",
)
def identity_issue_token(request, identity_id: Id, data: TokenRequest):
    """The token is in this answer only; the portal keeps its scopes and expiry. A request
    replayed by its Idempotency-Key answers the same scopes and expiry with `token` null."""
    actor = request.auth
    require(actor, "identities.issue_token", "issue access tokens")
    identity = _identity(actor, identity_id)
    issued = services.identity_issue_token(
        actor=actor, identity=identity, scopes=data.scopes, minutes=data.minutes
    )
    return Status(
        201,
        {"token": issued.token, "expires_on": issued.expires_on, "scopes": list(issued.scopes)},
    )


@router.delete(
    "/identities/{identity_id}/tokens", response=IdentityOut, summary="Revoke access tokens"
)
def identity_revoke_tokens(request, identity_id: Id):
    """Every token issued to the identity so far stops working, in ACS at once."""
    actor = request.auth
    require(actor, "identities.revoke_tokens", "revoke access tokens")
    identity = services.identity_revoke_tokens(actor=actor, identity=_identity(actor, identity_id))
    return identity_out(_identity(actor, identity.pk))


@router.delete("/identities/{identity_id}", response={204: None}, summary="Delete an identity")
def identity_delete(request, identity_id: Id):
    """ACS deletes the user and its tokens; the identity leaves every room it was in."""
    actor = request.auth
    require(actor, "identities.delete_identity", "delete identities")
    services.identity_delete(actor=actor, identity=_identity(actor, identity_id))
    return Status(204, None)
