"""The API's own answer to a NUL character: the error shape, not the pages' HTML 400."""

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from api.errors import error_response
from portal.middleware import find_nul
from portal.services import CONTROL_CHARACTERS

PREFIX = "/api/"
# Portal pages under /api/: refused as every page is, by portal's middleware.
PAGES = ("/api/tokens/", "/api/docs")


class ApiRefuseNulMiddleware:
    """Before portal's RefuseUnstorableInputMiddleware: the same refusal, in JSON, for the API."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(PREFIX) and not path.startswith(PAGES):
            where = find_nul(request)
            if where is not None:
                message = CONTROL_CHARACTERS.format(field=where)
                response = error_response(400, "bad_request", message)
                patch_cache_control(response, private=True, no_store=True)
                return response
        return self.get_response(request)
