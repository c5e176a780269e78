"""The API's own answer to a NUL character: the error shape, not the pages' HTML 400."""

from django.http import HttpRequest, HttpResponse

from api.errors import error_response
from portal.middleware import find_nul
from portal.services import CONTROL_CHARACTERS

PREFIX = "/api/"


class ApiRefuseNulMiddleware:
    """Before portal's RefuseUnstorableInputMiddleware: the same refusal, in JSON, for /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(PREFIX):
            where = find_nul(request)
            if where is not None:
                return error_response(400, "bad_request", CONTROL_CHARACTERS.format(field=where))
        return self.get_response(request)
