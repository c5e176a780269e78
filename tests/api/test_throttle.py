"""Too many requests from one user's tokens get a 429 in the error shape, with Retry-After."""

import pytest

from api.main import api as ninja_api
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def test_a_user_past_the_rate_is_throttled_and_told_when_to_come_back(
    api, api_as, auditor, monkeypatch
):
    (throttle,) = ninja_api.throttle
    monkeypatch.setattr(throttle, "num_requests", 2)
    assert [api.get("/rooms").status_code for _ in range(2)] == [200, 200]
    response = api.get("/rooms")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # Counted per user: another user's tokens are not slowed down by it.
    assert api_as(auditor).get("/rooms").status_code == 200
