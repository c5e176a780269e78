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
    "TIME_ZONE": "Europe/Paris",
}


def _production_environment() -> dict:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(REPO),
        "PORTAL_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        **PRODUCTION,
    }


def test_check_deploy_is_clean_with_production_values():
    environment = _production_environment()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


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
