"""ACS-shaped error responses and the exception that carries them through the handlers."""

from __future__ import annotations

MALFORMED_SYNTAX = "The request could not be understood by the server due to malformed syntax."
NOT_FOUND_MESSAGE = "The server cannot find the requested resource."


class ApiError(Exception):
    """An error answer: status, JSON body and extra headers."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def flat(status: int, code: str, message: str, *, target=None, error_code_header=True) -> ApiError:
    """A flat {"error":{code,message}} error; Rooms adds x-ms-error-code to these."""
    error = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    headers = {"x-ms-error-code": code} if error_code_header else {}
    return ApiError(status, {"error": error}, headers)


def model_validation(message: str, target: str) -> ApiError:
    """The ASP.NET model-validation envelope Rooms uses; recordings show no x-ms-error-code here."""
    return ApiError(
        400,
        {
            "error": {
                "code": "BadRequest",
                "message": MALFORMED_SYNTAX,
                "details": [{"code": "BadArgument", "message": message, "target": target}],
            }
        },
    )


def rooms_bad_request(message: str) -> ApiError:
    return flat(400, "BadRequest", message)


def rooms_not_found() -> ApiError:
    return flat(404, "NotFound", NOT_FOUND_MESSAGE)


def identity_validation(message: str, target: str | None) -> ApiError:
    """Identity 400s: ValidationError with a target and no x-ms-error-code (recordings)."""
    return flat(400, "ValidationError", message, target=target, error_code_header=False)
