"""Production values pass Django's deployment checks with nothing to report."""

import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "rooms.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://rooms.example.com",
    "DATABASE_URL": "postgres://portal@db.internal:5432/portal",
    # Several web processes share the rate limits (portal.W001 otherwise).
    "CACHE_URL": "dbcache://portal_cache",
    "TIME_ZONE": "Europe/Paris",
}


def _production_environment() -> dict:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(REPO),
        "PORTAL_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        **PRODUCTION,
    }


def _check_deploy(extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**_production_environment(), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _settings(names: str, extra: dict | None = None) -> list[str]:
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        f"print(*(getattr(s, name) for name in {names.split()!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**_production_environment(), **(extra or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_check_deploy_is_clean_with_production_values():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_hsts_preload_is_opt_in_and_check_deploy_is_clean_either_way():
    # Off by default; W021 ("you have not set SECURE_HSTS_PRELOAD") is silenced only while off.
    seconds, preload = _settings("SECURE_HSTS_SECONDS SECURE_HSTS_PRELOAD")
    assert (seconds, preload) == ("31536000", "False")
    assert _settings("SILENCED_SYSTEM_CHECKS") == ["['security.W021']"]

    opted_in = {"SECURE_HSTS_PRELOAD": "true"}
    assert _settings("SECURE_HSTS_PRELOAD SILENCED_SYSTEM_CHECKS", opted_in) == ["True", "[]"]
    result = _check_deploy(opted_in)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)" in result.stdout


def test_production_cookies_are_secure_http_only_and_same_site():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_SAMESITE, s.SECURE_SSL_REDIRECT)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=_production_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "True", "Lax", "True", "Lax", "True"], result.stderr
