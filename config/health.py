"""Health probes (django-health-check): liveness, readiness, and the full report.

- `/healthz/live`: the process answers; no dependency is asked. A failing one means restart it.
- `/healthz/ready`: the database answers and every migration is applied; 503 otherwise. This
  alone decides whether the load balancer sends this process requests.
- `/health/`: readiness plus the task workers' heartbeat, the age of the oldest change not yet
  pushed to ACS, and whether ACS answers. 503 when any is red. None of these three gates
  readiness: a dead worker or an ACS outage leaves the web tier serving (changes are kept and
  pushed once the worker or ACS is back), so taking it out of the load balancer would only
  add an outage; they show red here, for monitoring to alert on.

The probes need no sign-in (a load balancer or monitor has no session) and say nothing secret:
each check reports "OK" or a short reason of our own wording (a count, an age, an error code),
never an exception's text, a host name or a connection string.
"""

from __future__ import annotations

import abc
import dataclasses
import threading
from datetime import timedelta

from asgiref.sync import sync_to_async
from django import db
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from health_check import checks
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

import acs_gateway as acs
from outbox import heartbeat
from outbox.engine import oldest_unpushed_change

# The ACS probe's own socket timeouts: a hung ACS fails the probe in seconds and never holds a
# web thread for the gateway's 10 s + 30 s.
ACS_CONNECT_TIMEOUT = 3
ACS_READ_TIMEOUT = 5
ACS_CACHE_KEY = "health:acs"


def _seconds(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds()))


@dataclasses.dataclass
class Database(checks.Database):
    """django-health-check's SELECT 1 on a connection of its own, with our wording: its message
    keeps the driver's first words, which name the database server's address."""

    def run(self) -> None:
        try:
            super().run()
        except ServiceUnavailable as exc:
            raise ServiceUnavailable("database unavailable") from exc


class _PortalCheck(HealthCheck):
    """A check of the portal's own: `check()` runs in the request's thread (so it uses the
    request's database connection), and a database error reads "database unavailable"."""

    async def run(self) -> None:
        await sync_to_async(self._guarded)()

    def _guarded(self) -> None:
        try:
            self.check()
        except db.Error as exc:
            raise ServiceUnavailable("database unavailable") from exc

    @abc.abstractmethod
    def check(self) -> None:
        """Raise ServiceUnavailable, naming what is wrong, unless all is well."""


@dataclasses.dataclass
class Migrations(_PortalCheck):
    """Every migration this code knows is applied (a release whose `migrate` did not run)."""

    alias: str = "default"

    def check(self) -> None:
        executor = MigrationExecutor(connections[self.alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied: run manage.py migrate")


@dataclasses.dataclass
class TaskWorkers(_PortalCheck):
    """A task worker stamped its heartbeat within the last minute (outbox.heartbeat)."""

    def check(self) -> None:
        if heartbeat.alive():
            return
        last = heartbeat.last_seen()
        if last is None:
            raise ServiceUnavailable("no task worker is running (manage.py run_worker)")
        silent = _seconds(timezone.now() - last.seen_at)
        raise ServiceUnavailable(f"no task worker seen for {silent} s")


@dataclasses.dataclass
class SyncBacklog(_PortalCheck):
    """No change has waited longer than HEALTH_BACKLOG_MAX_AGE seconds to reach ACS."""

    def check(self) -> None:
        oldest = oldest_unpushed_change()
        if oldest is None:
            return
        age = _seconds(timezone.now() - oldest)
        if age > settings.HEALTH_BACKLOG_MAX_AGE:
            raise ServiceUnavailable(
                f"the oldest change not yet in ACS waits for {age} s "
                f"(more than {settings.HEALTH_BACKLOG_MAX_AGE} s)"
            )


_probe_lock = threading.Lock()
_probe_gateways: dict[tuple[str, str, str, str], acs.AcsGateway] = {}


def probe_gateway() -> acs.AcsGateway:
    """A gateway for the configured ACS, as acs.get_gateway()'s, with short socket timeouts."""
    key = (
        settings.ACS_CONNECTION_STRING or "",
        settings.ACS_ENDPOINT or "",
        settings.ACS_CA_BUNDLE or "",
        str(settings.ACS_EMULATOR_STATE or ""),
    )
    with _probe_lock:
        gateway = _probe_gateways.get(key)
        if gateway is None:
            connection_string, endpoint, ca_bundle, state = key
            app = None if connection_string or endpoint else acs.embedded_emulator(state or None)
            gateway = _probe_gateways[key] = acs.AcsGateway(
                connection_string,
                ca_bundle=ca_bundle,
                app=app,
                endpoint=endpoint,
                connection_timeout=ACS_CONNECT_TIMEOUT,
                read_timeout=ACS_READ_TIMEOUT,
            )
        return gateway


def probe_acs() -> str:
    """Why ACS does not answer a cheap, signed call (the first page of rooms); "" when it does."""
    try:
        next(iter(probe_gateway().list_rooms()), None)
    except acs.AcsThrottled:
        return ""  # it answered: ACS is there, only busy
    except acs.AcsError as exc:
        # The error's code and status only: its message may name the endpoint.
        status = f" (HTTP {exc.status})" if exc.status else ""
        return f"ACS does not answer: {exc.code or type(exc).__name__}{status}"
    return ""


@dataclasses.dataclass
class AcsReachable(_PortalCheck):
    """ACS (or the embedded emulator) answers a signed call; the answer is kept for
    HEALTH_ACS_CACHE_SECONDS, so frequent probes from many monitors call ACS rarely."""

    timeout = timedelta(seconds=ACS_CONNECT_TIMEOUT + ACS_READ_TIMEOUT)

    def check(self) -> None:
        problem = cache.get(ACS_CACHE_KEY)
        if problem is None:
            problem = probe_acs()
            cache.set(ACS_CACHE_KEY, problem, settings.HEALTH_ACS_CACHE_SECONDS)
        if problem:
            raise ServiceUnavailable(problem)


READINESS = [Database, Migrations]
FULL_REPORT = [*READINESS, TaskWorkers, SyncBacklog, AcsReachable]


class HealthReport(HealthCheckView):
    """django-health-check's report (HTML, JSON with ?format=json or Accept, text, metrics),
    answering 503 rather than its 500 when a check is red: the server is fine, a dependency
    is not, and load balancers read 503 as 'not now'."""

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        if response.status_code == 500:
            response.status_code = 503
        return response


readiness = login_not_required(HealthReport.as_view(checks=READINESS))
report = login_not_required(HealthReport.as_view(checks=FULL_REPORT))


@login_not_required
@never_cache
@require_GET
def liveness(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is asked, so a database outage restarts nothing."""
    return JsonResponse({"status": "ok"})
