"""The OpenAPI document names the auth scheme, the error shape and the Idempotency-Key; a fault
of ours is a 500 in the same shape, and leaves its key free for a retry."""

import pytest
from django.test import Client

from api.models import IdempotentRequest
from rooms.models import Room
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def document():
    return Client().get("/api/openapi.json").json()


def test_it_documents_the_bearer_token_on_every_operation(document):
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"TokenAuth": []}], (method, path)


def test_every_operation_documents_the_error_shape(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for operations in document["paths"].values():
        for operation in operations.values():
            for status in ("401", "403", "404", "422", "429"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


def test_every_post_documents_the_idempotency_key(document):
    posts = [ops["post"] for ops in document["paths"].values() if "post" in ops]
    assert len(posts) == 5
    for operation in posts:
        assert "Idempotency-Key" in [
            p["name"] for p in operation["parameters"] if p["in"] == "header"
        ]


def test_a_fault_of_ours_is_a_500_in_the_error_shape_and_frees_the_key(api, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database fell over")

    monkeypatch.setattr("rooms.services.room_create", broken)
    response = api.post("/rooms", {"title": "T"}, headers={"Idempotency-Key": "retry-me"})
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "server_error"
    assert "fell over" not in error["message"]
    assert not IdempotentRequest.objects.exists()
    monkeypatch.undo()
    again = api.post("/rooms", {"title": "T"}, headers={"Idempotency-Key": "retry-me"})
    assert again.status_code == 201
    assert Room.objects.count() == 1
