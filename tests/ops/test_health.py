"""The health probes: liveness asks nothing, readiness the database and migrations, and the full
report adds the task workers' heartbeat, the sync backlog's age and ACS."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from outbox import heartbeat
from outbox.models import Entry, SyncState, WorkerHeartbeat

pytestmark = pytest.mark.django_db

CHECKS = ["Database", "Migrations", "TaskWorkers", "SyncBacklog", "AcsReachable"]


def _report(client) -> tuple[int, dict[str, str]]:
    """The full report's status and each check's verdict, keyed by the check's class name."""
    response = client.get("/health/?format=json")
    verdicts = {name.split("(")[0]: verdict for name, verdict in response.json().items()}
    return response.status_code, verdicts


def _red(client) -> dict[str, str]:
    return {name: verdict for name, verdict in _report(client)[1].items() if verdict != "OK"}


@pytest.fixture
def worker_alive(db):
    heartbeat.beat("worker-1")


@pytest.fixture
def database_down():
    """Every connection, in every thread, fails to open or query as with a lost server."""
    with mock.patch(
        "django.db.backends.base.base.BaseDatabaseWrapper.ensure_connection",
        side_effect=OperationalError("connection to server at 10.0.0.9 failed: password=hunter2"),
    ):
        yield


# --------------------------------------------------------------------------- liveness


def test_liveness_answers_ok_without_asking_the_database(client, database_down):
    response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --------------------------------------------------------------------------- readiness


def test_readiness_is_green_with_the_database_and_every_migration(client):
    response = client.get("/healthz/ready", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert {name.split("(")[0] for name in response.json()} == {"Database", "Migrations"}
    assert set(response.json().values()) == {"OK"}


def test_readiness_is_503_when_the_database_is_unreachable(database_down):
    client = Client(raise_request_exception=False)
    response = client.get("/healthz/ready?format=json")
    assert response.status_code == 503
    verdicts = response.json()
    assert all(verdict.startswith("Unavailable") for verdict in verdicts.values())
    # The report names no host and no secret from the error.
    assert "10.0.0.9" not in response.content.decode()
    assert "hunter2" not in response.content.decode()


def test_the_report_says_database_unavailable_in_every_check_that_reads_it(emulator, database_down):
    status, verdicts = _report(Client(raise_request_exception=False))
    assert status == 503
    assert verdicts == {
        **dict.fromkeys(
            ["Database", "Migrations", "TaskWorkers", "SyncBacklog"],
            "Unavailable: database unavailable",
        ),
        "AcsReachable": "OK",
    }


def test_readiness_is_503_while_a_migration_is_not_applied(client):
    with mock.patch(
        "django.db.migrations.executor.MigrationExecutor.migration_plan",
        return_value=[("a migration", False)],
    ):
        response = client.get("/healthz/ready?format=json")
    assert response.status_code == 503
    assert "1 migration(s) not applied" in str(response.json())


def test_readiness_ignores_a_dead_worker_and_an_acs_outage(client, emulator):
    emulator.set_faults(error_rates={503: 1.0})
    assert not WorkerHeartbeat.objects.exists()
    assert client.get("/healthz/ready").status_code == 200


def test_the_old_healthz_still_answers(client):
    assert client.get("/healthz").json() == {"status": "ok"}


# --------------------------------------------------------------------------- the task workers


def test_the_report_is_green_with_a_worker_seen_now(client, emulator, worker_alive):
    status, verdicts = _report(client)
    assert (status, verdicts) == (200, dict.fromkeys(CHECKS, "OK"))


def test_the_report_is_red_without_any_worker(client, emulator):
    status, _ = _report(client)
    assert status == 503
    assert _red(client) == {
        "TaskWorkers": "Unavailable: no task worker is running (manage.py run_worker)"
    }


def test_a_worker_silent_for_a_minute_turns_red_and_green_again_when_it_beats(
    client, emulator, worker_alive
):
    row = WorkerHeartbeat.objects.get()
    WorkerHeartbeat.objects.update(seen_at=row.seen_at - timedelta(seconds=59))
    assert _report(client)[0] == 200, "59 s without a beat is still alive"

    WorkerHeartbeat.objects.update(seen_at=row.seen_at - timedelta(seconds=75))
    assert _report(client)[0] == 503
    assert _red(client)["TaskWorkers"].startswith("Unavailable: no task worker seen for 7")

    heartbeat.beat("worker-1")
    assert _report(client) == (200, dict.fromkeys(CHECKS, "OK"))


def test_one_live_worker_among_dead_ones_is_enough(client, emulator, worker_alive):
    heartbeat.beat("worker-2")
    WorkerHeartbeat.objects.filter(worker_id="worker-1").update(
        seen_at=timezone.now() - timedelta(minutes=10)
    )
    assert _report(client)[0] == 200


# --------------------------------------------------------------------------- the sync backlog


def _change_waiting_since(ago: timedelta, state=SyncState.PENDING) -> Entry:
    return Entry.objects.create(
        kind="room",
        object_id=Entry.objects.count() + 1,
        state=state,
        marked_at=timezone.now() - ago,
    )


def test_a_change_waiting_less_than_the_limit_is_green(client, emulator, worker_alive):
    _change_waiting_since(timedelta(seconds=290))
    assert _report(client)[0] == 200


@pytest.mark.parametrize("state", [SyncState.PENDING, SyncState.FAILED])
def test_a_change_waiting_past_the_limit_is_red_until_it_is_pushed(
    client, emulator, worker_alive, state
):
    entry = _change_waiting_since(timedelta(seconds=400), state)
    _change_waiting_since(timedelta(seconds=10))
    assert _report(client)[0] == 503
    assert _red(client) == {
        "SyncBacklog": "Unavailable: the oldest change not yet in ACS waits for 400 s "
        "(more than 300 s)"
    }
    Entry.objects.filter(pk=entry.pk).update(state=SyncState.SYNCED)
    assert _report(client)[0] == 200


def test_the_backlog_limit_is_a_setting(client, emulator, worker_alive, settings):
    settings.HEALTH_BACKLOG_MAX_AGE = 30
    _change_waiting_since(timedelta(seconds=60))
    assert "SyncBacklog" in _red(client)


def test_a_change_acs_refused_is_not_backlog(client, emulator, worker_alive):
    # Stopped rows wait for a person (the dashboard lists them), not for the worker.
    _change_waiting_since(timedelta(hours=3), SyncState.STOPPED)
    assert _report(client)[0] == 200


# --------------------------------------------------------------------------- ACS


def test_acs_failing_turns_the_acs_check_red_and_readiness_stays_green(
    client, emulator, worker_alive
):
    emulator.set_faults(error_rates={503: 1.0})
    assert _report(client)[0] == 503
    assert _red(client) == {
        "AcsReachable": "Unavailable: ACS does not answer: ServiceUnavailable (HTTP 503)"
    }
    assert client.get("/healthz/ready").status_code == 200


def test_a_dropped_connection_to_acs_is_red(client, emulator, worker_alive):
    emulator.set_faults(drop_rate=1.0, drop_when="before")
    assert _red(client) == {"AcsReachable": "Unavailable: ACS does not answer: ConnectionFailed"}


def test_acs_is_asked_once_per_cache_period_whatever_the_probes(client, emulator, worker_alive):
    for _ in range(3):
        assert _report(client)[0] == 200
    assert emulator.requests()["counts"] == {"Rooms_List": 1}
    # A fault arriving meanwhile shows once the cached answer expires.
    emulator.set_faults(error_rates={503: 1.0})
    assert _report(client)[0] == 200
    from django.core.cache import cache

    from config.health import ACS_CACHE_KEY

    cache.delete(ACS_CACHE_KEY)
    assert _report(client)[0] == 503


def test_a_throttled_acs_is_reachable(client, emulator, worker_alive):
    emulator.set_faults(error_rates={429: 1.0})
    assert _report(client)[0] == 200


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/healthz/live", "/healthz/ready", "/health/"])
def test_the_probes_need_no_sign_in_and_are_never_cached(client, emulator, worker_alive, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/healthz/live", "/healthz/ready", "/health/"])
def test_the_probes_answer_plain_http_without_a_redirect(client, settings, path, worker_alive):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(path).status_code != 301
    assert client.get("/").status_code == 301


def test_the_report_shows_no_connection_string(client, emulator, worker_alive, settings):
    emulator.set_faults(error_rates={500: 1.0})
    for fmt in ("json", "text", "openmetrics"):
        body = client.get(f"/health/?format={fmt}").content.decode()
        assert "accesskey" not in body.lower()
        assert settings.SECRET_KEY not in body


def test_the_html_report_lists_every_check(client, emulator, worker_alive):
    html = client.get("/health/", HTTP_ACCEPT="text/html").content.decode()
    for name in CHECKS:
        assert name in html


def test_the_backlog_age_reads_an_index_not_the_table(db):
    """PostgreSQL reads the first row of the partial index outbox_entry_backlog; SQLite's planner
    prefers searching the state index (then sorts the unpushed rows), never a full scan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from outbox.engine import oldest_unpushed_change

    for state in (SyncState.PENDING, SyncState.FAILED, SyncState.SYNCED, SyncState.STOPPED):
        _change_waiting_since(timedelta(seconds=5), state)
    with CaptureQueriesContext(connection) as queries:
        oldest_unpushed_change()
    (query,) = queries.captured_queries
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A table this small is cheaper to scan; what matters is that the index can serve it.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + query["sql"])
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "Scan using outbox_entry_backlog" in plan, plan  # an index (only) scan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
            plan = " ".join(row[3] for row in cursor.fetchall())
            assert "SEARCH outbox_entry USING INDEX" in plan, plan
            assert "SCAN outbox_entry" not in plan, plan
