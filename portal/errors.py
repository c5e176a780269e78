"""Server error pages and error reports: no database needed, no secret shown."""

import re
import sys

from django.db import DatabaseError, DataError, IntegrityError, InterfaceError, ProgrammingError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views.debug import SafeExceptionReporterFilter


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, or a 503 saying the database is unavailable when that is the cause.

    Every service writes in one transaction, so a request that failed here wrote nothing,
    and the page can say so.
    """
    error = sys.exc_info()[1]
    if _database_unavailable(error):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "60"
        return response
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def _database_unavailable(error: BaseException | None) -> bool:
    # A bad query or a broken constraint is a bug in the portal, not an unavailable database.
    if isinstance(error, ProgrammingError | IntegrityError | DataError):
        return False
    return isinstance(error, DatabaseError | InterfaceError)


class SecretsFilter(SafeExceptionReporterFilter):
    """Error reports (the debug page, admin e-mails) hide ACS keys and tokens wherever they sit.

    Django hides settings named like KEY or TOKEN; the connection string is named neither, and
    a traceback's local variables (a token just issued, a client's credential) are shown unless
    each function is decorated. So names and values are both checked here.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CONNECTION_STRING|CREDENTIAL",
        flags=re.I,
    )
    hidden_values = re.compile(r"accesskey=|eyJ[\w-]{8,}\.", flags=re.I)

    def cleanse_setting(self, key, value):
        if isinstance(value, str) and self.hidden_values.search(value):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)

    def get_traceback_frame_variables(self, request, tb_frame):
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if self.hidden_settings.search(name) or self.hidden_values.search(_text(value)):
                value = self.cleansed_substitute
            cleansed.append((name, value))
        return cleansed


def _text(value) -> str:
    try:
        return value if isinstance(value, str) else repr(value)
    except Exception:  # a broken __repr__ must not break the error report
        return ""
