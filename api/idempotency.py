"""Idempotency-Key on POST: the first answer is kept 24 hours and replayed to a retry.

Keyed by (user, key). The row is inserted before the request runs, so of two identical
requests racing, one runs and the other meets the unique constraint and is told to retry
(409) rather than running twice. A key sent again with another method, path or body is
refused (422). A 5xx answer is not kept: the client may retry it under the same key.
Secrets in an answer (an ACS access token) are never kept: the replay carries `"token": null`.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from api import tokens
from api.errors import error_response
from api.models import IdempotentRequest

HEADER = "Idempotency-Key"
KEPT = timedelta(hours=24)
MAX_KEY = 255
# Answer fields that are shown once and never stored.
SECRET_FIELDS = ("token",)
REPLAYED = "Idempotent-Replayed"


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path):
        digest.update(part.encode() + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _bearer_user(request: HttpRequest):
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None


def _kept_body(response: HttpResponse) -> bytes:
    content = response.content
    try:
        data = json.loads(content)
    except ValueError:
        return content
    if isinstance(data, dict) and any(name in data for name in SECRET_FIELDS):
        data = {name: None if name in SECRET_FIELDS else value for name, value in data.items()}
        return json.dumps(data).encode()
    return content


def _replay(row: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(
        bytes(row.body), status=row.status or 200, content_type="application/json"
    )
    response[REPLAYED] = "true"
    return response


def _claim(user, key: str, fingerprint: str) -> IdempotentRequest | None:
    """Insert the in-progress row; None when another request holds the key already."""
    now = timezone.now()
    # Keys older than a day are forgotten, everyone's, here: one indexed DELETE per keyed POST.
    IdempotentRequest.objects.filter(created_at__lt=now - KEPT).delete()
    try:
        with transaction.atomic():
            return IdempotentRequest.objects.create(
                user=user, key=key, fingerprint=fingerprint, created_at=now
            )
    except IntegrityError:
        return None


def run(request: HttpRequest, view: Callable[[], HttpResponse]) -> HttpResponse:
    """Answer a POST that carries an Idempotency-Key: replayed, refused or run once."""
    key = request.headers.get(HEADER, "")
    user = _bearer_user(request)
    if user is None:
        return view()  # answered 401 by the API's authentication
    if not key or len(key) > MAX_KEY or not key.isprintable():
        return error_response(
            422,
            "invalid",
            f"{HEADER} must be 1 to {MAX_KEY} printable characters.",
            field=HEADER,
        )
    fingerprint = _fingerprint(request)
    row = _claim(user, key, fingerprint)
    if row is None:
        existing = IdempotentRequest.objects.filter(user=user, key=key).first()
        if existing is None:  # kept no answer (a 5xx) and went meanwhile: run it now
            return view()
        if existing.fingerprint != fingerprint:
            return error_response(
                422,
                "idempotency_key_reused",
                f"This {HEADER} was used for another request in the last 24 hours; "
                "use a new key for a new request.",
                field=HEADER,
            )
        if existing.status is None:
            return error_response(
                409,
                "in_progress",
                f"A request with this {HEADER} is still running; retry in a moment.",
                headers={"Retry-After": "1"},
            )
        return _replay(existing)
    try:
        response = view()
    except BaseException:
        row.delete()
        raise
    if response.status_code >= 500:
        row.delete()
        return response
    row.status = response.status_code
    row.body = _kept_body(response)
    row.save(update_fields=["status", "body"])
    return response
