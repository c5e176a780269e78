"""Idempotency-Key: a retried POST gets the first answer, a reused key with another body is
refused, and a duplicate racing the first is told to wait."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import IdempotentRequest
from identities.models import Identity
from rooms.models import Room
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

KEY = {"Idempotency-Key": "3f1c6a3e-create-room"}
BODY = {"title": "Board"}


def test_the_same_request_again_replays_the_first_answer(api):
    first = api.post("/rooms", BODY, headers=KEY)
    again = api.post("/rooms", BODY, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Room.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(api):
    api.post("/rooms", BODY, headers=KEY)
    response = api.post("/rooms", {"title": "Another"}, headers=KEY)
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert Room.objects.count() == 1


def test_a_refusal_is_replayed_too(api):
    first = api.post("/rooms", {"title": " "}, headers=KEY)
    again = api.post("/rooms", {"title": " "}, headers=KEY)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()


def test_keys_are_per_user(api, api_as, scheduler):
    api.post("/rooms", BODY, headers=KEY)
    assert api_as(scheduler).post("/rooms", BODY, headers=KEY).status_code == 201
    assert Room.objects.count() == 2


def test_a_duplicate_while_the_first_runs_is_told_to_retry(api, superuser):
    assert api.post("/rooms", BODY, headers=KEY).status_code == 201
    # The first request's row is in, its answer not yet: as a concurrent duplicate sees it.
    row = IdempotentRequest.objects.get()
    row.status = None
    row.save()
    again = api.post("/rooms", BODY, headers=KEY)
    assert again.status_code == 409
    assert error_of(again)["code"] == "in_progress"
    assert Room.objects.count() == 1


def test_a_key_older_than_a_day_is_forgotten(api):
    api.post("/rooms", BODY, headers=KEY)
    row = IdempotentRequest.objects.get()
    row.created_at -= timedelta(hours=25)
    row.save()
    assert "Idempotent-Replayed" not in api.post("/rooms", BODY, headers=KEY)
    assert Room.objects.count() == 2


def test_an_access_token_is_never_kept_for_a_replay(api, emulator):
    person = api.post("/identities", {"display_name": "Ada"}).json()
    path = f"/identities/{person['id']}/tokens"
    first = api.post(path, {"scopes": ["voip"]}, headers=KEY)
    assert first.status_code == 201 and first.json()["token"]
    row = IdempotentRequest.objects.get()
    assert first.json()["token"].encode() not in bytes(row.body)
    again = api.post(path, {"scopes": ["voip"]}, headers=KEY)
    assert again.status_code == 201 and again.json()["token"] is None
    assert again.json()["expires_on"] == first.json()["expires_on"]
    assert Identity.objects.get().tokens_issued_at is not None


def test_an_overlong_key_is_refused(api):
    response = api.post("/rooms", BODY, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert error_of(response)["field"] == "Idempotency-Key"
    assert not Room.objects.exists()


def test_any_users_expired_keys_go_at_the_next_keyed_post(api, api_as, scheduler):
    api_as(scheduler).post("/rooms", BODY, headers=KEY)
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))
    api.post("/rooms", BODY, headers={"Idempotency-Key": "another"})
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["another"]


def test_the_database_holds_one_row_per_user_and_key(superuser):
    # What makes racing duplicates safe: the second insert fails however close the two are.
    IdempotentRequest.objects.create(
        user=superuser, key="k", fingerprint="a", created_at=timezone.now()
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotentRequest.objects.create(
            user=superuser, key="k", fingerprint="a", created_at=timezone.now()
        )
