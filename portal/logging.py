"""Structured logs and the request id that ties together what one request caused.

A request gets an id (its own X-Request-ID if well formed, else a new one), answered in the
response's X-Request-ID header. The id lives in a context variable for as long as the request
runs, so every log line it writes carries it; the push tasks it enqueues take it along in their
kwargs (outbox.engine), so the worker's log lines and audit events carry it too; and the ACS
gateway sends it as `x-ms-client-request-id` (acs_gateway.clients.ClientRequestIdPolicy), the
header ACS echoes and Microsoft's support asks for.

Log lines go through structlog's ProcessorFormatter: JSON lines (LOG_FORMAT=json, the default
without DEBUG) or a readable console line. The standard library's loggers stay as they are;
their records are rendered by the same processors. The settings import this module before the
apps load, so it imports nothing of the portal and no Django models.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-ID"
# What an incoming id may look like: short, no spaces or quotes, so it is safe in a header, a
# log line and the audit trail's 64-character column. Anything else is replaced, not refused.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

_request_id: ContextVar[str] = ContextVar("request_id", default="")


def new_request_id() -> str:
    # A GUID in its usual form: what Azure's services expect in x-ms-client-request-id.
    return str(uuid.uuid4())


def well_formed(value: str | None) -> bool:
    return bool(value) and _WELL_FORMED.fullmatch(value or "") is not None


def current_request_id() -> str:
    """The id of the request (or task) this code runs for; "" outside of one."""
    return _request_id.get()


@contextmanager
def request_context(request_id: str) -> Iterator[str]:
    """Run the block as part of `request_id`'s work (log lines, tasks, ACS calls carry it)."""
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


class RequestIdMiddleware:
    """Give each request its id (honouring a well-formed X-Request-ID) and answer with it.

    The id stays set until the response is closed (request_finished), not only while the
    middleware runs: Django logs a 4xx/5xx answer (django.request) after every middleware
    returned, and that line must carry the id too.
    """

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if well_formed(offered) else new_request_id()
        request.request_id = request_id
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _request_over(**_kwargs: Any) -> None:
    _request_id.set("")


request_finished.connect(_request_over, dispatch_uid="portal.logging.request_over")


# --------------------------------------------------------------------------- structlog


def add_request_id(_logger: Any, _method: str, event: dict) -> dict:
    """Put the current request id on the line, unless the line names one itself."""
    if request_id := current_request_id():
        event.setdefault("request_id", request_id)
    return event


def _shared_processors() -> list:
    """What every line gets, whether written through structlog or the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(log_format: str) -> dict:
    """A logging.config formatter rendering records as JSON lines or console lines."""
    last: list[Any]
    if log_format == "json":
        # The traceback as one string field: the line stays one line of JSON.
        last = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        last = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": _shared_processors(),
        "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
    }


def json_formatter() -> logging.Formatter:
    """The JSON formatter as an object, for loggers set up outside the settings (gunicorn's)."""
    options = {key: value for key, value in formatter("json").items() if key != "()"}
    return structlog.stdlib.ProcessorFormatter(**options)


def configure_structlog() -> None:
    """Send structlog's own loggers through the standard library's handlers (and formatter)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
