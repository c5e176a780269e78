"""Identity API behaviour over WSGI: identities, tokens, revocation and validation errors."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest

from .conftest import IDENTITY_VERSION


def _post(api, path, body=None):
    return api.post(path, json=body, version=IDENTITY_VERSION)


def _claims(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def _create(api, body=None) -> dict:
    response = _post(api, "/identities", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _path(identity: str, action: str = "") -> str:
    return f"/identities/{quote(identity, safe='')}{action}"


def test_it_creates_an_identity_without_a_token_for_an_empty_body(api):
    response = api.call("POST", "/identities", version=IDENTITY_VERSION)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"identity"}
    assert body["identity"]["id"].startswith(f"8:acs:{api.emu.resource_id}_")
    assert response.headers["api-supported-versions"] == "2023-10-01"
    assert "x-ms-error-code" not in response.headers


def test_it_creates_an_identity_with_a_token(api, clock):
    body = _create(api, {"createTokenWithScopes": ["chat", "voip"], "expiresInMinutes": 60})
    header, claims = _claims(body["accessToken"]["token"])
    assert set(header) == {"alg", "kid", "x5t", "typ"}
    assert header["alg"] == "RS256"
    identity = body["identity"]["id"]
    assert claims["skypeid"] == identity.removeprefix("8:")
    assert claims["acsScope"] == "chat,voip"
    assert claims["resourceId"] == api.emu.resource_id
    assert claims["csi"] == str(claims["iat"])
    assert claims["exp"] - claims["iat"] == 3600
    expires = datetime.fromisoformat(body["accessToken"]["expiresOn"])
    assert int(expires.timestamp()) == claims["exp"]
    assert expires == clock() + timedelta(minutes=60)


def test_it_issues_a_token_that_lasts_a_day_by_default(api):
    identity = _create(api)["identity"]["id"]
    response = _post(api, _path(identity, "/:issueAccessToken"), {"scopes": ["voip.join"]})
    assert response.status_code == 200
    _, claims = _claims(response.get_json()["token"])
    assert claims["exp"] - claims["iat"] == 1440 * 60
    assert api.emu.token_status(response.get_json()["token"])["valid"] is True


@pytest.mark.parametrize("minutes", [59, 1441])
def test_it_rejects_token_lifetimes_outside_60_to_1440_minutes(api, minutes):
    identity = _create(api)["identity"]["id"]
    response = _post(
        api,
        _path(identity, "/:issueAccessToken"),
        {"scopes": ["chat"], "expiresInMinutes": minutes},
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "code": "ValidationError",
            "message": f"ExpiresInMinutes value {minutes} is invalid. Value must be within the "
            "[60, 1440] interval.",
            "target": "ExpiresInMinutes",
        }
    }
    assert "x-ms-error-code" not in response.headers


def test_it_rejects_a_create_with_an_out_of_range_lifetime(api):
    response = _post(
        api, "/identities", {"createTokenWithScopes": ["chat"], "expiresInMinutes": 1441}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["target"] == "ExpiresInMinutes"


def test_it_requires_scopes_to_issue_a_token(api):
    identity = _create(api)["identity"]["id"]
    response = _post(api, _path(identity, "/:issueAccessToken"), {})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "code": "ValidationError",
            "message": "Scopes: The Scopes field is required.",
            "target": "Scopes",
        }
    }


def test_it_rejects_an_unknown_scope(api):
    identity = _create(api)["identity"]["id"]
    response = _post(api, _path(identity, "/:issueAccessToken"), {"scopes": ["everything"]})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "ValidationError"


def test_it_reports_a_revoked_token_invalid_but_issues_new_ones(api, clock):
    body = _create(api, {"createTokenWithScopes": ["chat"]})
    identity, old = body["identity"]["id"], body["accessToken"]["token"]
    assert (
        api.call(
            "POST", _path(identity, "/:revokeAccessTokens"), version=IDENTITY_VERSION
        ).status_code
        == 204
    )
    assert api.emu.token_status(old) == {
        "valid": False,
        "reason": "revoked",
        "identity": identity,
        "scopes": ["chat"],
        "expiresOn": body["accessToken"]["expiresOn"],
    }
    clock.advance(seconds=1)
    new = _post(api, _path(identity, "/:issueAccessToken"), {"scopes": ["chat"]}).get_json()
    assert api.emu.token_status(new["token"])["valid"] is True


def test_it_reports_a_deleted_identitys_token_invalid(api):
    body = _create(api, {"createTokenWithScopes": ["voip"]})
    identity = body["identity"]["id"]
    response = api.delete(_path(identity), version=IDENTITY_VERSION)
    assert response.status_code == 204
    assert api.emu.token_status(body["accessToken"]["token"])["reason"] == "identity deleted"
    again = _post(api, _path(identity, "/:issueAccessToken"), {"scopes": ["chat"]})
    assert again.status_code == 404
    assert api.delete(_path(identity), version=IDENTITY_VERSION).status_code == 204


def test_it_reports_an_expired_token(api, clock):
    body = _create(api, {"createTokenWithScopes": ["chat"], "expiresInMinutes": 60})
    clock.advance(minutes=61)
    assert api.emu.token_status(body["accessToken"]["token"])["reason"] == "expired"


def test_it_reports_a_forged_token_as_a_bad_signature(api):
    token = _create(api, {"createTokenWithScopes": ["chat"]})["accessToken"]["token"]
    header, payload, signature = token.split(".")
    forged = header + "." + payload[:-4] + "AAAA" + "." + signature
    assert api.emu.token_status(forged)["reason"] in ("bad signature", "malformed")
    assert api.emu.token_status(f"{header}.{payload}.{signature[::-1]}")["reason"] == (
        "bad signature"
    )
    assert api.emu.token_status("not-a-jwt")["reason"] == "malformed"


def test_it_answers_a_teams_exchange_as_an_unverifiable_token(api):
    response = _post(
        api, "/teamsUser/:exchangeAccessToken", {"token": "aad", "appId": "app", "userId": "user"}
    )
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {"code": "InvalidAccessToken", "message": "Provided access token is not valid."}
    }


def test_it_answers_404_for_an_unknown_identity(api):
    unknown = f"8:acs:{api.emu.resource_id}_00000000-0000-0000-0000-000000000000"
    response = _post(api, _path(unknown, "/:issueAccessToken"), {"scopes": ["chat"]})
    assert response.status_code == 404
    revoke = api.call("POST", _path(unknown, "/:revokeAccessTokens"), version=IDENTITY_VERSION)
    assert revoke.status_code == 404


def test_it_rejects_rooms_api_versions_on_identity_paths(api):
    response = api.post("/identities", json={}, version="2025-03-13")
    assert response.status_code == 400
    assert (
        "does not support the API version '2025-03-13'" in response.get_json()["error"]["message"]
    )


def test_it_logs_identity_operations_by_name(api):
    identity = _create(api, {"createTokenWithScopes": ["chat"]})["identity"]["id"]
    api.call("POST", _path(identity, "/:revokeAccessTokens"), version=IDENTITY_VERSION)
    api.delete(_path(identity), version=IDENTITY_VERSION)
    counts = api.emu.requests()["counts"]
    assert counts == {
        "Identity_Create": 1,
        "Identity_RevokeAccessTokens": 1,
        "Identity_Delete": 1,
    }


def test_token_expiry_matches_the_requested_minutes(api, clock):
    identity = _create(api)["identity"]["id"]
    body = _post(
        api, _path(identity, "/:issueAccessToken"), {"scopes": ["chat"], "expiresInMinutes": 90}
    ).get_json()
    expires = datetime.fromisoformat(body["expiresOn"])
    assert abs(expires - (clock() + timedelta(minutes=90))) < timedelta(seconds=1)


def test_it_requires_every_field_of_a_teams_exchange(api):
    response = _post(api, "/teamsUser/:exchangeAccessToken", {"token": "aad", "appId": "app"})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "code": "ValidationError",
            "message": "UserId: The UserId field is required.",
            "target": "UserId",
        }
    }


def test_it_rejects_an_identity_id_that_is_not_an_acs_user(api):
    response = _post(api, _path("4:+14255550123", "/:issueAccessToken"), {"scopes": ["chat"]})
    assert response.status_code == 400
    assert response.get_json()["error"]["target"] == "id"


def test_it_echoes_the_client_request_id(api):
    response = api.call(
        "POST",
        "/identities",
        version=IDENTITY_VERSION,
        headers={"x-ms-client-request-id": "req-42"},
    )
    assert response.headers["x-ms-client-request-id"] == "req-42"
