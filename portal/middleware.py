"""HTTP rules every request obeys: input the database cannot hold.

- `RefuseUnstorableInputMiddleware`: a NUL character anywhere in the request (address, query,
  form fields, cookies, headers) is answered with a 400 page naming where it was, before any view
  or lookup runs. PostgreSQL can neither store nor compare NUL, so a NUL that reaches a query is
  a 500; this closes that for every view, the admin's and third-party ones included.
"""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control

from portal.services import CONTROL_CHARACTERS

NUL = "\x00"
BAD_INPUT_TEMPLATE = "portal/bad_input.html"

# ----------------------------------------------------------------------------- NUL in the request


def _shown(name: str) -> str:
    # The name itself may hold the NUL: show it as the symbol for NUL, not as nothing.
    return name.replace(NUL, "\u2400")


def find_nul(request: HttpRequest) -> str | None:
    """Where the request carries a NUL character, as the page names it, or None."""
    if NUL in request.path_info:
        return "The address"
    for name, value in request.META.items():
        if name.startswith("HTTP_") and isinstance(value, str) and NUL in value:
            header = name.removeprefix("HTTP_").replace("_", "-").title()
            return f"The request header “{_shown(header)}”"
    for name, value in request.COOKIES.items():
        if NUL in name or NUL in value:
            return f"The cookie “{_shown(name)}”"
    sources = [("query parameter", request.GET)]
    if request.method == "POST":
        # Parsed once here, as the view would; an uploaded file's content is the view's to read
        # (the CSV import refuses a file with NUL as "not a text file").
        sources += [("form field", request.POST), ("form field", request.FILES)]
    for kind, data in sources:
        for name, values in data.lists():
            if NUL in name or any(isinstance(v, str) and NUL in v for v in values):
                return f"The {kind} “{_shown(name)}”"
    return None


class RefuseUnstorableInputMiddleware:
    """Answer 400, naming the parameter, when any text of the request contains NUL.

    NUL is the one character PostgreSQL cannot hold, even in a WHERE clause; the other control
    characters are storable, and the forms refuse them with a message beside the field
    (portal.services.check_text), so they are left to the forms. No browser sends NUL from a
    form a person filled in: refusing the whole request loses nobody's typing.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = find_nul(request)
        if where is None:
            return self.get_response(request)
        message = CONTROL_CHARACTERS.format(field=where)
        response = HttpResponseBadRequest(
            render_to_string(BAD_INPUT_TEMPLATE, {"message": message, "where": where})
        )
        patch_cache_control(response, private=True, no_store=True)
        return response
