"""HMAC-SHA256 authentication: every SDK signing style accepted, every bad signature refused."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest

from .conftest import hmac_headers

DENIED = {"error": {"code": "Denied", "message": "Denied by the resource provider."}}


def _raw(api, method, path, headers, body=b""):
    return api.client.open(path, method=method, data=body, headers=headers)


def test_it_accepts_a_correctly_signed_request(api):
    assert api.get("/rooms").status_code == 200


def test_it_rejects_a_wrong_key(api):
    other = base64.b64encode(os.urandom(32)).decode()
    response = api.get("/rooms", key=other)
    assert response.status_code == 401
    assert response.get_json() == DENIED


def test_it_rejects_a_tampered_body_with_the_content_hash_message(api, clock):
    path = "/rooms?api-version=2025-03-13"
    headers = hmac_headers(api.emu.access_key, "POST", path, b"{}", date=clock())
    response = _raw(api, "POST", path, headers, b'{"pstnDialOutEnabled":true}')
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {
            "code": "Denied",
            "message": "Request 'x-ms-content-sha256' differs from generated content hash.",
        }
    }


def test_it_rejects_a_stale_date(api, clock):
    path = "/rooms?api-version=2025-03-13"
    headers = hmac_headers(api.emu.access_key, "GET", path, date=clock() - timedelta(minutes=6))
    response = _raw(api, "GET", path, headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == (
        "The time difference between the originating client and the server is greater than "
        "the allowed margin of 5 minutes."
    )


@pytest.mark.parametrize("missing", ["Authorization", "x-ms-date", "x-ms-content-sha256"])
def test_it_rejects_a_request_missing_an_auth_header(api, clock, missing):
    path = "/rooms?api-version=2025-03-13"
    headers = hmac_headers(api.emu.access_key, "GET", path, date=clock())
    del headers[missing]
    response = _raw(api, "GET", path, headers)
    assert response.status_code == 401
    assert response.get_json() == DENIED


def test_it_rejects_a_signature_over_another_host(api, clock):
    path = "/rooms?api-version=2025-03-13"
    headers = hmac_headers(api.emu.access_key, "GET", path, host="elsewhere", date=clock())
    assert _raw(api, "GET", path, headers).status_code == 401


def test_it_rejects_a_signature_over_another_path(api, clock):
    path = "/rooms?api-version=2025-03-13"
    headers = hmac_headers(
        api.emu.access_key, "GET", path, date=clock(), signed_path="/rooms?api-version=2024-04-15"
    )
    assert _raw(api, "GET", path, headers).status_code == 401


@pytest.mark.parametrize(
    "signed",
    [
        # Python with an http:// endpoint drops the leading slash.
        "identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2023-10-01",
        # Async Python clients sign the percent-decoded path.
        "/identities/8:acs:r_u/:issueAccessToken?api-version=2023-10-01",
        # JS re-encodes the query through URLSearchParams.
        "/identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2023-10-01",
    ],
)
def test_it_accepts_every_sdk_form_of_the_signed_path(api, clock, signed):
    path = "/identities/8%3Aacs%3Ar_u/:issueAccessToken?api-version=2023-10-01"
    headers = hmac_headers(
        api.emu.access_key, "POST", path, b"{}", date=clock(), signed_path=signed
    )
    response = _raw(api, "POST", path, headers, b"{}")
    # Authenticated: the answer is about the (unknown) scopes, not the signature.
    assert response.status_code == 400


def test_it_accepts_the_url_search_params_form_of_a_next_link_query(api, clock):
    path = "/rooms?nextLink=WyJyb29tcyIsMSwiMSJd&api-version=2025-03-13"
    headers = hmac_headers(
        api.emu.access_key,
        "GET",
        path,
        date=clock(),
        signed_path="/rooms?nextLink=WyJyb29tcyIsMSwiMSJd&api-version=2025-03-13",
    )
    assert _raw(api, "GET", path, headers).status_code == 200
    padded = "/rooms?nextLink=WyJyb29tcyIsMSwiMSJdXQ==&api-version=2025-03-13"
    headers = hmac_headers(
        api.emu.access_key,
        "GET",
        padded,
        date=clock(),
        signed_path="/rooms?nextLink=WyJyb29tcyIsMSwiMSJdXQ%3D%3D&api-version=2025-03-13",
    )
    assert _raw(api, "GET", padded, headers).status_code != 401


def test_it_takes_the_host_header_verbatim_as_node_sends_it(api, clock):
    path = "/rooms?api-version=2025-03-13"
    host = "127.0.0.1:8791:8791"
    headers = hmac_headers(api.emu.access_key, "GET", path, host=host, date=clock())
    headers["Host"] = host
    assert _raw(api, "GET", path, headers).status_code == 200


def test_it_leaves_the_control_api_outside_hmac(api):
    assert api.client.get("/_emulator/health").status_code == 200
