"""gunicorn's settings for the portal's web process: `gunicorn -c gunicorn.conf.py config.wsgi`.

Every value can be changed through the environment (docs/deployment.md lists them).
"""

import json
import multiprocessing
import os
from datetime import UTC, datetime

from gunicorn import glogging

from joining.log_masking import mask
from portal.logging import json_formatter


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        number = int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not valid: expected a whole number.") from None
    if number < 1:
        raise SystemExit(f"{name}={value!r} is not valid: expected 1 or more.")
    return number


# Only the TLS-terminating proxy talks to gunicorn: listen on loopback unless told otherwise.
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
# Sync workers, gunicorn's rule of thumb for them: a request waiting on the database or ACS
# holds its worker, so twice the cores plus one keeps the CPUs busy.
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
# A request may call ACS itself (a token, a join): the gateway gives up after 10 s + 30 s, so a
# worker silent for longer than that is stuck, and gunicorn replaces it.
timeout = _int("WEB_TIMEOUT", 60)
# On SIGTERM or a reload, requests in flight get this long to finish (systemd waits 35 s).
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 30)
# Behind a proxy that reuses its connections to gunicorn.
keepalive = 5
# A fresh worker every ~1000 requests bounds what a slow leak can grow to; the jitter keeps
# the workers from restarting together.
max_requests = 1000
max_requests_jitter = 100
# The addresses whose X-Forwarded-Proto/-For gunicorn believes: the proxy's (comma-separated,
# "*" for any: only when nothing else can reach gunicorn). Django reads X-Forwarded-Proto through
# SECURE_PROXY_SSL_HEADER and the client's address through TRUSTED_PROXY_COUNT.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "acs-portal-web"
# systemd (or honcho) manages the process; the control socket in $HOME (gunicorn 24+) is not
# needed, and the unit's ProtectHome= would refuse it.
control_socket_disable = True
# No preload: each worker imports the portal after the fork, so nothing made at import (a
# database connection, the embedded emulator's SQLite handle, the ACS clients' sessions) is
# shared between processes; and `systemctl reload` (SIGHUP) starts workers on the new code,
# which a preloaded master would not. The memory a preload would share is a few tens of MB.
preload_app = False

# Access log on stdout, error log on stderr; the journal or the log shipper takes both.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# As the settings decide it: JSON lines unless LOG_FORMAT=console, or DEBUG names none.
_debug = os.environ.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
log_format = os.environ.get("LOG_FORMAT") or ("console" if _debug else "json")


class JsonLogger(glogging.Logger):
    """gunicorn's own lines as JSON, in the shape of the portal's (portal/logging.py), and one
    JSON line per request with the request id the portal answered in X-Request-ID, so a
    request's access line and the portal's lines about it join on request_id."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(json_formatter())

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        request_id = next(
            (value for name, value in resp.headers if name.lower() == "x-request-id"), None
        )
        line = {
            "event": "request",
            "logger": "gunicorn.access",
            "level": "info",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "method": environ.get("REQUEST_METHOD"),
            # The path without its query (search terms are people's names); join links' secrets
            # masked, as in the portal's own lines.
            "path": mask(environ.get("PATH_INFO", "")),
            "status": resp.status_code,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": request_id,
        }
        self.access_log.info(json.dumps(line))


if log_format == "json":
    logger_class = JsonLogger
