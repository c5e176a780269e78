"""Settings for the test suite: production settings with test-friendly environment defaults."""

import os
import tempfile
from pathlib import Path

# Production values (DEBUG off) so the suite exercises what is deployed; only TLS redirects are off,
# because the test client speaks plain HTTP.
for name, value in {
    "DEBUG": "false",
    "SECRET_KEY": "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_HSTS_SECONDS": "0",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    # A developer's .env must not change what the suite tests.
    "PORTAL_ENV_FILE": "",
}.items():
    os.environ.setdefault(name, value)

from config.settings import *  # noqa: E402, F403
from config.settings import STORAGES  # noqa: E402

# The manifest storage needs collectstatic; tests render templates without it.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# WhiteNoise serves from the finders, so no collectstatic; it still wants STATIC_ROOT to exist.
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="portal-static-"))
WHITENOISE_USE_FINDERS = True
# The embedded emulator in memory: each test starts from an empty ACS (see tests/conftest.py).
ACS_EMULATOR_STATE = ""
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# SQLite tests run on a file, as the portal does: an in-memory database fails a second writer at
# once instead of waiting for the busy timeout, which concurrency tests must see.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.mkdtemp(prefix="portal-test-db-")) / "test.sqlite3")
    }
