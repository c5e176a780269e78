"""Reading the environment: good values parse, malformed ones stop start-up naming the variable."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("Off", False), ("no", False)]
)
def test_it_reads_booleans(raw, expected):
    assert env.read_bool("DEBUG", not expected, {"DEBUG": raw}) is expected


def test_it_uses_the_default_when_a_variable_is_unset_or_empty():
    assert env.read_bool("DEBUG", True, {}) is True
    assert env.read_bool("DEBUG", False, {"DEBUG": "  "}) is False
    assert env.read_list("ALLOWED_HOSTS", ["a"], {}) == ["a"]


def test_it_rejects_a_malformed_boolean_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"^DEBUG='maybe' is not valid"):
        env.read_bool("DEBUG", False, {"DEBUG": "maybe"})


def test_it_rejects_a_malformed_number_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match="SECURE_HSTS_SECONDS='soon'"):
        env.read_int("SECURE_HSTS_SECONDS", 0, environ_map={"SECURE_HSTS_SECONDS": "soon"})
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env.read_int("SECURE_HSTS_SECONDS", 0, environ_map={"SECURE_HSTS_SECONDS": "-5"})


def test_it_splits_lists_and_rejects_empty_items():
    assert env.read_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.example, b.example"}) == [
        "a.example",
        "b.example",
    ]
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS"):
        env.read_list("ALLOWED_HOSTS", [], {"ALLOWED_HOSTS": "a.example,,b"})


def test_it_accepts_iana_time_zones_and_rejects_others():
    assert env.read_time_zone("TIME_ZONE", "UTC", {"TIME_ZONE": "Europe/Paris"}) == "Europe/Paris"
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE='Mars/Olympus'"):
        env.read_time_zone("TIME_ZONE", "UTC", {"TIME_ZONE": "Mars/Olympus"})


def test_it_rejects_a_choice_outside_the_list():
    with pytest.raises(ImproperlyConfigured, match="TASK_BACKEND='celery'.*database, immediate"):
        env.read_choice(
            "TASK_BACKEND", "database", ("database", "immediate"), {"TASK_BACKEND": "celery"}
        )


def test_it_defaults_to_a_sqlite_file_in_wal_mode_with_a_busy_timeout(tmp_path):
    config = env.read_database("DATABASE_URL", tmp_path / "var" / "db.sqlite3", {})
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "var" / "db.sqlite3")
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5
    assert (tmp_path / "var").is_dir()


def test_it_reads_a_postgres_url():
    config = env.read_database(
        "DATABASE_URL", Path("unused"), {"DATABASE_URL": "postgres://app@db.internal:5433/portal"}
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.internal",
        5433,
        "portal",
        "app",
    )


@pytest.mark.parametrize("url", ["bogus", "mysql://db/portal", "postgres://db.internal"])
def test_it_rejects_database_urls_it_cannot_use(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL="):
        env.read_database("DATABASE_URL", Path("unused"), {"DATABASE_URL": url})


def _manage_check(**overrides):
    environment = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "HOME": str(REPO),
        "PORTAL_ENV_FILE": "",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_refuses_to_run_without_a_secret_key_in_production():
    result = _manage_check(DEBUG="false")
    assert result.returncode == 1
    assert "Configuration error: SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_start_up_names_a_malformed_variable():
    result = _manage_check(DEBUG="true", ACS_CONNECTION_STRING="https://nowhere")
    assert result.returncode == 1
    assert "ACS_CONNECTION_STRING is not valid" in result.stderr


def test_start_up_accepts_a_development_configuration_without_a_secret_key():
    result = _manage_check(DEBUG="true", DATABASE_URL="sqlite:///:memory:")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
