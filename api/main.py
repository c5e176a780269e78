"""The API object: token auth, throttling, one error shape, and the OpenAPI document."""

from ninja import NinjaAPI
from ninja.throttling import AuthRateThrottle

from api import errors, history, identities, participants, rooms
from api.auth import TokenAuth
from api.idempotency import HEADER as IDEMPOTENCY_HEADER

DESCRIPTION = """
The portal's rooms, participants, identities and history for other systems, through the same
services and permission checks as the pages.

**Authentication**: `Authorization: Bearer <token>` with a personal API token made on the
portal's *API tokens* page (`/api/tokens/`). The token acts as its user, with that user's groups
and permissions. No session cookie is accepted, so there is no CSRF to guard against.

**Errors** all have one shape: `{"error": {"code", "message", "field", "details"}}`; `field`
names the request field at fault. A 409 on an update or delete carries the room as it is now
in `error.current`.

**Idempotency-Key**: send one on any POST to make a retry safe. For 24 hours the same key with
the same request answers the first answer again (`Idempotent-Replayed: true`); the same key with
another request is a 422. An access token in an answer is never kept: its replay carries
`"token": null`.
"""

# Per user, whichever of their tokens: generous for a sync job, a brake on a runaway loop.
# Counted in Django's cache: with the default local-memory cache each process counts alone.
RATE = "600/m"

# Statuses any operation may answer besides its own, all in the error shape.
ERROR_STATUSES = {
    "400": "The body is not JSON, not an object, or holds a NUL character",
    "401": "No valid API token",
    "403": "The token's user lacks the permission (the message names it)",
    "404": "No such object",
    "409": "A conflict: the object changed (update, delete), or the Idempotency-Key is in use",
    "410": "The object was deleted",
    "422": "A field is not valid (`error.field` names it)",
    "429": "Too many requests (see Retry-After)",
}


class PortalApi(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error_schema = errors.Error.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["Error"] = error_schema
        error_ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }
        for path in schema["paths"].values():
            for method, operation in path.items():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_STATUSES.items():
                    responses.setdefault(status, {"description": description, **error_ref})
                if method == "post":
                    operation.setdefault("parameters", []).append(
                        {
                            "in": "header",
                            "name": IDEMPOTENCY_HEADER,
                            "required": False,
                            "description": "Makes a retry safe: the first answer is replayed "
                            "for 24 hours to the same request with the same key.",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    )
        return schema


api = PortalApi(
    title="ACS Rooms portal API",
    version="1",
    description=DESCRIPTION,
    auth=TokenAuth(),
    throttle=[AuthRateThrottle(RATE)],
    urls_namespace="api",
    # The docs page is a portal page: signed-in staff only (the sign-in middleware applies).
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
for module in (rooms, participants, identities, history):
    api.add_router("", module.router)
