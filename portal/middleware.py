"""HTTP rules every request obeys: input the database cannot hold, signed-in sessions, 403 logs.

- `RefuseUnstorableInputMiddleware`: a NUL character anywhere in the request (address, query,
  form fields, cookies, headers) is answered with a 400 page naming where it was, before any view
  or lookup runs. PostgreSQL can neither store nor compare NUL, so a NUL that reaches a query is
  a 500; this closes that for every view, the admin's and third-party ones included.
- `SignedInMiddleware`: signed-in sessions end after SESSION_COOKIE_AGE from sign-in and after
  SESSION_IDLE_TIMEOUT without a request; every response to a signed-in user is
  `Cache-Control: private, no-store`, so no shared cache or Back button keeps a page of data.
- `ForbiddenWithoutTraceback`: a logging filter that writes a 403 as one WARNING line (method,
  path, user, the refusal naming the permission) instead of a traceback.
"""

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control
from django.utils.datastructures import MultiValueDict

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
    sources: list[tuple[str, MultiValueDict[str, Any]]] = [("query parameter", request.GET)]
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


# ----------------------------------------------------------------------------- signed-in sessions

SIGNED_IN_AT = "portal_signed_in_at"
LAST_SEEN = "portal_last_seen"
# Activity is written to the session at most this often (seconds): not a write per request.
LAST_SEEN_RESOLUTION = 60
# Requests a page makes by itself, not the user: they do not keep a session from going idle.
BACKGROUND_VIEWS = {"rooms:sync_badge"}
SIGNED_OUT_IDLE = "You were signed out after {minutes} minutes without activity. Sign in again."
SIGNED_OUT_AGE = "You were signed out {hours} after signing in. Sign in again."


def _stamp_sign_in(sender, request, user, **kwargs) -> None:
    """A sign-in starts both clocks (connected in PortalConfig.ready)."""
    session = getattr(request, "session", None)
    if session is not None:
        now = int(time.time())
        session[SIGNED_IN_AT] = now
        session[LAST_SEEN] = now


def connect_signals() -> None:
    user_logged_in.connect(_stamp_sign_in, dispatch_uid="portal.middleware.stamp_sign_in")
    # The user's saved time zone goes into the session, so no request reads it from the table.
    # Imported here, at ready(): the logging config loads this module before the apps are, and
    # portal.timezones reads a model.
    from portal import timezones

    user_logged_in.connect(
        timezones.remember_at_sign_in, dispatch_uid="portal.timezones.remember_at_sign_in"
    )


def _hours(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'' if hours == 1 else 's'}"
    minutes = seconds // 60
    return f"{minutes} minutes"


def session_expired(session, now: int) -> str | None:
    """Why the signed-in session is over (the message to show), or None while it is valid."""
    signed_in_at, last_seen = session.get(SIGNED_IN_AT), session.get(LAST_SEEN)
    if not isinstance(signed_in_at, int) or not isinstance(last_seen, int):
        return None
    age, idle = settings.SESSION_COOKIE_AGE, settings.SESSION_IDLE_TIMEOUT
    if now - signed_in_at >= age:
        return SIGNED_OUT_AGE.format(hours=_hours(age))
    if idle and now - last_seen >= idle:
        return SIGNED_OUT_IDLE.format(minutes=idle // 60)
    return None


class SignedInMiddleware:
    """End sessions that are too old or idle; keep signed-in pages out of every cache.

    Django's own session expiry slides with every save, so it can hold neither an absolute limit
    nor (without a write on every request) an idle one: the session records when its user signed
    in and, to the minute, when they last asked for something. A session past either limit is
    signed out before any view runs, so the sign-in page (LoginRequiredMiddleware, or the
    admin's) asks for the password again, with a message saying why. A page's own polling (the
    sync badge) is not activity: a room page left open would otherwise never go idle.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _signed_in(request):
            self._check(request)
        response = self.get_response(request)
        if _signed_in(request):
            patch_cache_control(response, private=True, no_store=True)
            match = getattr(request, "resolver_match", None)
            if match is None or match.view_name not in BACKGROUND_VIEWS:
                self._seen(request)
        return response

    @staticmethod
    def _check(request: HttpRequest) -> None:
        session = request.session
        if SIGNED_IN_AT not in session:
            # Signed in before these clocks existed: they start now.
            session[SIGNED_IN_AT] = session[LAST_SEEN] = int(time.time())
            return
        reason = session_expired(session, int(time.time()))
        if reason is not None:
            logout(request)
            if hasattr(request, "_messages"):
                messages.info(request, reason)

    @staticmethod
    def _seen(request: HttpRequest) -> None:
        session, now = request.session, int(time.time())
        last_seen = session.get(LAST_SEEN)
        if not isinstance(last_seen, int) or now - last_seen >= LAST_SEEN_RESOLUTION:
            session[LAST_SEEN] = now


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


# ----------------------------------------------------------------------------- 403 in the log


def _printable(text: str) -> str:
    # Nothing from the request may start a new log line or hide in one.
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class ForbiddenWithoutTraceback(logging.Filter):
    """One WARNING line per 403 on django.request, instead of Django's traceback.

    A refused permission is an expected answer, not an error: the line says who asked for what
    and which permission they lack (services raise PermissionDenied naming it).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, PermissionDenied):
            return True
        request = getattr(record, "request", None)
        who, method, path = "anonymous", "", ""
        if request is not None:
            method, path = request.method or "", request.get_full_path()
            try:
                user = request.user
                if user.is_authenticated:
                    who = user.get_username()
            except Exception:  # a log line must never fail the request
                who = "unknown"
        reason = str(error) or "no permission named"
        record.msg = "Forbidden: %s %s by %s: %s"
        record.args = tuple(_printable(part) for part in (method, path, who, reason))
        record.exc_info = None
        record.exc_text = None
        return True
