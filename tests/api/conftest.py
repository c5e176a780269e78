"""An API client that sends a user's bearer token, and tokens for the staff fixtures."""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from api import tokens


class ApiClient:
    """Django's test client speaking JSON with `Authorization: Bearer <token>`."""

    def __init__(self, secret: str | None):
        self.client = Client(raise_request_exception=False)
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def _send(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        return getattr(self.client, method)(
            "/api" + path,
            data=data,
            content_type="application/json",
            headers={**self.headers, **(headers or {})},
        )

    def get(self, path, params=None, headers=None):
        return self.client.get(
            "/api" + path, params or {}, headers={**self.headers, **(headers or {})}
        )

    def post(self, path, body=None, **kwargs):
        return self._send("post", path, body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self._send("patch", path, body, **kwargs)

    def delete(self, path, body=None, **kwargs):
        return self._send("delete", path, body, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """Each test starts with no requests counted against the rate limit (kept in the cache)."""
    cache.clear()


def client_for(user) -> ApiClient:
    return ApiClient(tokens.token_create(user=user, name="tests", days=30).secret)


@pytest.fixture
def api_as():
    """api_as(user) → an ApiClient acting as that user."""
    return client_for


@pytest.fixture
def api(superuser) -> ApiClient:
    return client_for(superuser)


def error_of(response) -> dict:
    """The error body, after checking it has the one shape every API error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "field", "details"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    return error
