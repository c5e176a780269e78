"""Schemathesis drives every endpoint from the API's own OpenAPI document, as a superuser with
a valid token: no answer may be a 5xx, and every answer must be one the document describes
(status, content type, body schema)."""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import tokens
from api.main import api
from tests.rooms.factories import town_hall

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def wsgi_app():
    return WSGIHandler()


@pytest.fixture
def bearer(superuser, emulator):
    # Something for the generated ids to find now and then: a room with a person, id 1 up.
    town_hall(superuser, people=[("Ada Lovelace", "ada@example.com")])
    # Django's test client keeps the test's connection open the same way: the request_started
    # signal would close it inside the test's transaction.
    request_started.disconnect(close_old_connections)
    yield {
        "Authorization": f"Bearer {tokens.token_create(user=superuser, name='fuzz', days=1).secret}"
    }
    request_started.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_one_the_document_describes(case, bearer, wsgi_app):
    case.call_and_validate(app=wsgi_app, headers=bearer, checks=CHECKS)
