"""Every error the API answers, in one JSON shape:

    {"error": {"code": "...", "message": "...", "field": "valid_until" | null, "details": [...]}}

`field` names the request field at fault (validation errors), `details` lists every problem
found (each with its own field and message); a conflict also carries `current`, the object as
it is now.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from portal.services import Conflict

logger = logging.getLogger(__name__)

# Locations pydantic puts before the field's own name: not part of what the client sent.
_LOCATIONS = {"body", "query", "path", "header", "cookie", "payload", "filters", "data"}


class ErrorDetail(Schema):
    field: str | None = None
    message: str


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None
    details: list[ErrorDetail] = []
    current: dict | None = None


class Error(Schema):
    error: ErrorBody


class ApiConflict(Exception):
    """A write refused because the object changed: answered 409 with the object as it is now."""

    def __init__(self, message: str, current: dict):
        super().__init__(message)
        self.message = message
        self.current = current


class Gone(Exception):
    """The object was deleted: answered 410."""


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[dict] | None = None,
    current: dict | None = None,
    headers: dict | None = None,
) -> HttpResponse:
    body: dict = {"code": code, "message": message, "field": field, "details": details or []}
    if current is not None:
        body["current"] = current
    response = JsonResponse(
        {"error": body}, status=status, json_dumps_params={"default": str, "ensure_ascii": False}
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_of(loc) -> str | None:
    names = [str(part) for part in loc if str(part) not in _LOCATIONS]
    return ".".join(names) or None


def _validation(request, exc: NinjaValidationError) -> HttpResponse:
    details = [
        {"field": _field_of(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors
    ]
    return _invalid(details, prefix_field=True)


def service_errors(exc: DjangoValidationError) -> list[dict]:
    """A service's ValidationError as (field, message) pairs; `__all__` is no field."""
    if hasattr(exc, "error_dict"):
        return [
            {"field": None if name == "__all__" else name, "message": message}
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [{"field": None, "message": message} for message in exc.messages]


def _service_validation(request, exc: DjangoValidationError) -> HttpResponse:
    return _invalid(service_errors(exc))


def _invalid(details: list[dict], *, prefix_field: bool = False) -> HttpResponse:
    """422 naming the first problem's field; every problem in details."""
    field: str | None = details[0]["field"] if details else None
    message = str(details[0]["message"]) if details else "The request is not valid."
    if prefix_field and field:
        # pydantic's messages ("Field required") do not say which field.
        message = f"{field}: {message}"
    return error_response(422, "invalid", message, field=field, details=details)


def _http_error(request, exc: HttpError) -> HttpResponse:
    codes = {
        400: "bad_request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        410: "gone",
        429: "throttled",
    }
    return error_response(exc.status_code, codes.get(exc.status_code, "error"), exc.message)


def unauthenticated(request=None, exc=None) -> HttpResponse:
    return error_response(
        401,
        "unauthenticated",
        "Send a valid API token as 'Authorization: Bearer <token>'; this one is missing, "
        "unknown, expired or revoked.",
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def _throttled(request, exc: Throttled) -> HttpResponse:
    headers = {"Retry-After": str(int(exc.wait))} if exc.wait else {}
    return error_response(
        429, "throttled", "Too many requests; slow down and try again.", headers=headers
    )


def _forbidden(request, exc: PermissionDenied) -> HttpResponse:
    return error_response(403, "forbidden", str(exc) or "You may not do this.")


def _not_found(request, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", str(exc) or "Not found.")


def _gone(request, exc: Gone) -> HttpResponse:
    return error_response(410, "gone", str(exc))


def _conflict(request, exc: ApiConflict) -> HttpResponse:
    return error_response(409, "conflict", exc.message, current=exc.current)


def _service_conflict(request, exc: Conflict) -> HttpResponse:
    return error_response(409, "conflict", exc.message)


def _server_error(request, exc: Exception) -> HttpResponse:
    logger.exception("API error on %s %s", request.method, request.path)
    return error_response(500, "server_error", "Something went wrong on our side; try again.")


HANDLERS: dict[type[Exception], Callable[..., HttpResponse]] = {
    NinjaValidationError: _validation,
    DjangoValidationError: _service_validation,
    AuthenticationError: unauthenticated,
    Throttled: _throttled,
    HttpError: _http_error,
    PermissionDenied: _forbidden,
    Http404: _not_found,
    Gone: _gone,
    ApiConflict: _conflict,
    Conflict: _service_conflict,
    Exception: _server_error,
}


def install(api: NinjaAPI) -> None:
    """Answer every error of `api` in the one shape (ninja picks the closest class)."""
    for exception, handler in HANDLERS.items():
        api.add_exception_handler(exception, handler)
