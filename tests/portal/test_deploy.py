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


def test_check_deploy_is_clean_with_production_values():
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(REPO),
        "PORTAL_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        **PRODUCTION,
    }
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
