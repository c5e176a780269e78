"""Identities through the API: the identities page's services; a token is returned once."""

import pytest

from identities.models import Identity
from portal.models import AuditEvent
from tests.api.conftest import error_of
from tests.identities.factories import IdentityFactory

pytestmark = pytest.mark.django_db


def _made_in_acs(api):
    response = api.post("/identities", {"display_name": "Ada Lovelace", "email": "ADA@example.com"})
    assert response.status_code == 201, response.content
    return Identity.objects.get(pk=response.json()["id"])


def test_it_creates_an_identity_and_the_sync_makes_its_acs_user(api, emulator):
    identity = _made_in_acs(api)
    assert (identity.display_name, identity.email) == ("Ada Lovelace", "ada@example.com")
    body = api.get(f"/identities/{identity.pk}").json()
    assert body["email"] == "ada@example.com" and body["sync_state"] is not None


def test_a_taken_email_is_refused_with_its_field(api, emulator):
    _made_in_acs(api)
    response = api.post("/identities", {"display_name": "Ada again", "email": "ada@example.com"})
    assert response.status_code == 422
    assert error_of(response)["field"] == "email"
    assert Identity.objects.count() == 1


def test_it_lists_and_searches_identities(api):
    IdentityFactory(display_name="Grace Hopper")
    IdentityFactory(display_name="Alan Turing")
    body = api.get("/identities", {"q": "grace"}).json()
    assert [item["display_name"] for item in body["items"]] == ["Grace Hopper"]
    assert body["items"][0]["room_count"] == 0


def test_a_token_is_returned_once_and_only_its_scopes_and_expiry_are_kept(api, emulator):
    identity = _made_in_acs(api)
    response = api.post(
        f"/identities/{identity.pk}/tokens", {"scopes": ["voip", "chat"], "minutes": 60}
    )
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    assert token and response.json()["scopes"] == ["voip", "chat"]
    identity.refresh_from_db()
    assert identity.token_scopes == ["voip", "chat"]
    stored = [str(v) for v in Identity.objects.filter(pk=identity.pk).values().get().values()]
    events = [str(e.changes) + str(e.acs_outcome) for e in AuditEvent.objects.all()]
    assert not any(token in text for text in stored + events)


def test_a_token_for_too_long_is_refused_with_its_field(api, emulator):
    identity = _made_in_acs(api)
    response = api.post(f"/identities/{identity.pk}/tokens", {"scopes": ["voip"], "minutes": 5000})
    assert response.status_code == 422
    assert error_of(response)["field"] == "minutes"


def test_it_revokes_the_tokens(api, emulator):
    identity = _made_in_acs(api)
    api.post(f"/identities/{identity.pk}/tokens", {"scopes": ["voip"]})
    response = api.delete(f"/identities/{identity.pk}/tokens")
    assert response.status_code == 200, response.content
    assert response.json()["tokens_revoked_at"] is not None
    assert response.json()["token_scopes"] == []


def test_it_deletes_an_identity_which_stays_readable(api, emulator):
    identity = _made_in_acs(api)
    assert api.delete(f"/identities/{identity.pk}").status_code == 204
    assert api.get(f"/identities/{identity.pk}").json()["deleted_at"] is not None
    again = api.delete(f"/identities/{identity.pk}")
    assert again.status_code == 410
    assert error_of(again)["code"] == "gone"


def test_an_unknown_identity_is_a_404(api):
    assert error_of(api.get("/identities/424242"))["code"] == "not_found"
