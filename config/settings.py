"""Django settings, read from the environment (see .env.example); a bad value stops start-up."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.entra_settings import read_entra
from portal.env import (
    read_bool,
    read_cache,
    read_choice,
    read_database,
    read_int,
    read_list,
    read_str,
    read_time_zone,
)
from portal.logging import configure_structlog
from portal.logging import formatter as log_formatter

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# A .env file beside manage.py (or PORTAL_ENV_FILE; empty: none) is read; real variables win.
_env_file = read_str("PORTAL_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = read_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105
SECRET_KEY = read_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set it (50+ random characters), or DEBUG=true for development."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = read_list(
    "ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "pgtrigger",
    "axes",
    # Health probes' report page and `manage.py health_check` (config/health.py).
    "health_check",
    # The task worker is `run_worker` (outbox/worker.py); `db_worker` is django_tasks_db's.
    # Top to bottom as they may import each other: the project, invitations, join links, rooms,
    # identities, the core.
    "config.apps.ProjectConfig",
    # The REST API for other systems (api/; django-ninja, which serves its docs page's files).
    "api",
    "ninja",
    "invitations",
    "joining",
    "rooms",
    "identities",
    "outbox",
    "portal",
    "django_tasks_db",
]

MIDDLEWARE = [
    # First: every response, even a redirect or a refusal, answers with the request's id.
    "portal.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request's text or the session (the time zone middleware reads the
    # user's zone from it): a NUL, even in the session cookie, gets a 400 naming where.
    # The API answers the same refusal in its JSON error shape.
    "api.middleware.ApiRefuseNulMiddleware",
    "portal.middleware.RefuseUnstorableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "portal.timezones.TimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Sessions end when too old or idle; signed-in responses are Cache-Control: private, no-store.
    "portal.middleware.SignedInMiddleware",
    # Last: turns a sign-in refused by the lock-out into a 429 (portal.login.lockout_response).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": read_database("DATABASE_URL", VAR_DIR / "portal.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes; portal/login.py). Failures count per pair of normalised
# username and client address: AXES_FAILURE_LIMIT of them lock that pair for
# AXES_COOLOFF_MINUTES, even for the right password; the same user from another address is never
# locked. `manage.py axes_reset_username NAME` (or the admin's Access attempts) unlocks.
AUTHENTICATION_BACKENDS = [
    "portal.login.AxesBackend",  # first: refuses a locked pair before any password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = read_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=read_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "portal.login.lockout_username"
# A plain string: axes' default is a lazy object, which the error reports' filter cannot read.
AXES_USERNAME_FORM_FIELD = "username"
AXES_CLIENT_IP_CALLABLE = "portal.login.client_address"
AXES_LOCKOUT_CALLABLE = "portal.login.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = True
# Tries during a lock-out do not restart it, so the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Proxies in front of the portal that append to X-Forwarded-For (a TLS-terminating nginx: 1).
# 0: the client address is REMOTE_ADDR. Behind N proxies, REMOTE_ADDR is the nearest proxy and the
# client is read from X-Forwarded-For through django-ipware (portal.login.client_address).
TRUSTED_PROXY_COUNT = read_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# Sign-in with Microsoft Entra ID (OpenID Connect; portal/entra.py), on when ENTRA_CLIENT_ID and
# friends are set. mozilla-django-oidc rather than django-allauth: it does the code flow with PKCE
# (S256) and a nonce, and always checks the ID token's signature against the JWKS, in one backend
# and two views; allauth (which lists Django 6.1) brings its account app, tables and pages, skips
# the signature check for a token fetched from the token endpoint, and sends no nonce.
# mozilla-django-oidc 5.0 lists Django up to 5.2: tests/portal/test_entra*.py hold it on 6.1.
ENTRA = read_entra()
ENTRA_SIGN_IN = ENTRA.enabled
globals().update(ENTRA.oidc_settings())
if ENTRA_SIGN_IN:
    AUTHENTICATION_BACKENDS.append("portal.entra.EntraBackend")
# django-axes counts failed password sign-ins only, not failed Entra ID callbacks.
AXES_WHITELIST_CALLABLE = "portal.login.not_a_password_attempt"
# false: only superusers (the break-glass account) may sign in with a password; others use Entra.
PASSWORD_SIGN_IN = read_bool("PASSWORD_SIGN_IN", True)
if not PASSWORD_SIGN_IN and not ENTRA_SIGN_IN:
    raise ImproperlyConfigured(
        "PASSWORD_SIGN_IN=false needs sign-in with Entra ID (ENTRA_TENANT_ID, ENTRA_CLIENT_ID, "
        "ENTRA_CLIENT_SECRET), or only superusers could sign in."
    )

LANGUAGE_CODE = "en-gb"
TIME_ZONE = read_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(read_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
if DEBUG:
    # runserver serves static files from the apps through WhiteNoise; no collectstatic needed.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Content Security Policy: nothing inline, nothing from another origin (htmx is served locally).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Production hardening: on unless DEBUG; behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER.
_secure = not DEBUG
SECURE_SSL_REDIRECT = read_bool("SECURE_SSL_REDIRECT", _secure)
SESSION_COOKIE_SECURE = read_bool("SESSION_COOKIE_SECURE", _secure)
CSRF_COOKIE_SECURE = read_bool("CSRF_COOKIE_SECURE", _secure)
SECURE_HSTS_SECONDS = read_int("SECURE_HSTS_SECONDS", 31536000 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# Preload is opt-in: once browsers ship the domain in their preload list, every subdomain is
# HTTPS-only for months, and taking it out is slow. So check --deploy's W021 ("preload not set")
# is silenced while it is off, on purpose; SECURE_HSTS_PRELOAD=true turns both on.
SECURE_HSTS_PRELOAD = read_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if read_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A sign-in lasts a working day at most and ends after half an hour without a request (NIST
# SP 800-63B asks 12 h / 30 min at AAL2); portal.middleware.SignedInMiddleware enforces both.
SESSION_COOKIE_AGE = read_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SESSION_IDLE_TIMEOUT = read_int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=0)
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# ACS: no connection string and no endpoint = the embedded emulator, whose state lives in this file.
ACS_CONNECTION_STRING = read_str("ACS_CONNECTION_STRING")
if ACS_CONNECTION_STRING and (
    "endpoint=" not in ACS_CONNECTION_STRING.lower()
    or "accesskey=" not in ACS_CONNECTION_STRING.lower()
):
    raise ImproperlyConfigured(
        "ACS_CONNECTION_STRING is not valid: expected endpoint=https://<resource>;accesskey=<key>."
    )
# Keyless ACS: the resource's endpoint and no key; the clients then sign in with Entra ID by
# DefaultAzureCredential (managed identity, or AZURE_TENANT_ID/_CLIENT_ID/_CLIENT_SECRET).
ACS_ENDPOINT = read_str("ACS_ENDPOINT").rstrip("/")
if ACS_ENDPOINT and not ACS_ENDPOINT.startswith("https://"):
    raise ImproperlyConfigured(
        f"ACS_ENDPOINT={ACS_ENDPOINT!r} is not valid: expected https://<resource>"
        ".communication.azure.com (bearer tokens are only sent over https)."
    )
if ACS_ENDPOINT and ACS_CONNECTION_STRING:
    raise ImproperlyConfigured(
        "ACS_ENDPOINT and ACS_CONNECTION_STRING are both set: keep ACS_CONNECTION_STRING to use "
        "the access key, or only ACS_ENDPOINT to sign in with Entra ID."
    )
ACS_CA_BUNDLE = read_str("ACS_CA_BUNDLE")
if ACS_CA_BUNDLE and not Path(ACS_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(f"ACS_CA_BUNDLE={ACS_CA_BUNDLE!r} is not valid: no such file.")
# The embedded emulator's state file; "" (as the tests set it) keeps that state in memory.
ACS_EMULATOR_STATE: Path | str = Path(
    read_str("ACS_EMULATOR_STATE", str(VAR_DIR / "acs-emulator.sqlite3"))
)

# The served emulator's inbox (make run serves it on :8791): the menu links to it, so whoever runs
# the portal on the emulator can read the invitations it sent. Empty: no link.
ACS_EMULATOR_INBOX_URL = read_str("ACS_EMULATOR_INBOX_URL")

# The rate limits (join tokens, the API) count in the default cache. Unset: each process's own
# memory, enough for one process; with several, a shared one (check --deploy warns):
# CACHE_URL=dbcache://portal_cache (then `manage.py createcachetable`) or redis://host:6379/0.
CACHES = {"default": read_cache("CACHE_URL")}

# Where the portal is reached from outside: personal join links in e-mails start with it.
PORTAL_BASE_URL = read_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
if not PORTAL_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"PORTAL_BASE_URL={PORTAL_BASE_URL!r} is not valid: expected https://host[:port]."
    )

# E-mail goes through ACS Email (acs_gateway.mail; without a connection string into the embedded
# emulator's inbox at /_emulator/inbox) from a sender address of a domain linked to the resource.
# EMAIL_URL (django-environ: smtp+tls://user:password@host:587, consolemail://) sends otherwise.
# Empty means the default, as .env.example leaves them.
ACS_EMAIL_SENDER = read_str("ACS_EMAIL_SENDER") or "DoNotReply@portal.acs-emulator.local"
if ACS_EMAIL_SENDER.count("@") != 1 or " " in ACS_EMAIL_SENDER:
    raise ImproperlyConfigured(
        f"ACS_EMAIL_SENDER={ACS_EMAIL_SENDER!r} is not valid: expected an address like "
        "DoNotReply@<your verified domain>."
    )
ACS_EMAIL_SENDER_NAME = read_str("ACS_EMAIL_SENDER_NAME") or "Rooms portal"
DEFAULT_FROM_EMAIL = f"{ACS_EMAIL_SENDER_NAME} <{ACS_EMAIL_SENDER}>"
# Django 6.1's MAILERS, not the deprecated EMAIL_BACKEND/EMAIL_HOST family.
MAILERS: dict[str, dict] = {"default": {"BACKEND": "acs_gateway.mail.AcsEmailBackend"}}
if _email_url := read_str("EMAIL_URL"):
    try:
        _email = environ.Env.email_url_config(_email_url)
    except (ImproperlyConfigured, ValueError) as exc:
        raise ImproperlyConfigured(f"EMAIL_URL is not valid: {exc}.") from None
    # django-environ names the old settings; MAILERS takes the backend's own option names.
    _options = {
        option: _email.get(setting)
        for setting, option in {
            "EMAIL_HOST": "host",
            "EMAIL_PORT": "port",
            "EMAIL_HOST_USER": "username",
            "EMAIL_HOST_PASSWORD": "password",
            "EMAIL_USE_TLS": "use_tls",
            "EMAIL_USE_SSL": "use_ssl",
            "EMAIL_TIMEOUT": "timeout",
            "EMAIL_FILE_PATH": "file_path",
        }.items()
        if _email.get(setting) not in (None, "")
    }
    MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _options}}

# Background tasks: "database" (django-tasks-db; run `manage.py run_worker`) or "immediate"
# (run in the request that enqueues them, for tests and one-off scripts).
TASK_BACKEND = read_choice("TASK_BACKEND", "database", ("database", "immediate"))
TASKS = {
    "default": {
        "BACKEND": {
            "database": "django_tasks_db.DatabaseBackend",
            "immediate": "django.tasks.backends.immediate.ImmediateBackend",
        }[TASK_BACKEND],
        "QUEUES": ["default"],
    }
}
# run_worker prunes finished task results older than this, hourly (outbox/worker.py).
TASK_RESULT_RETENTION_DAYS = read_int("TASK_RESULT_RETENTION_DAYS", 7, minimum=1)
# How far ahead a recurring series' occurrences exist as rooms (in ACS too); the worker rolls on.
SERIES_HORIZON_DAYS = read_int("SERIES_HORIZON_DAYS", 56, minimum=1)

# Error reports hide the ACS connection string, keys and tokens (see portal/errors.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.errors.SecretsFilter"

# Logs: JSON lines (LOG_FORMAT=json, the default without DEBUG) or readable console lines, every
# line with the request id of the request or task it belongs to (portal/logging.py, structlog).
LOG_FORMAT = read_choice("LOG_FORMAT", "console" if DEBUG else "json", ("json", "console"))
configure_structlog()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": log_formatter(LOG_FORMAT)},
    # A 403 is one WARNING line naming the user, the path and the permission, not a traceback.
    "filters": {
        "forbidden": {"()": "portal.middleware.ForbiddenWithoutTraceback"},
        # A join link's secret in a logged path becomes [secret] (joining/log_masking.py).
        "join_secrets": {"()": "joining.log_masking.MaskJoinSecrets"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "structured",
            "filters": ["join_secrets"],
        }
    },
    "root": {
        "handlers": ["console"],
        "level": read_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "loggers": {
        "azure": {"level": "WARNING"},
        "django.request": {"filters": ["forbidden", "join_secrets"]},
        "django.security.csrf": {"filters": ["join_secrets"]},
        "django.server": {"handlers": ["console"], "propagate": False, "filters": ["join_secrets"]},
    },
}

# Health probes (config/health.py, docs/deployment.md): /healthz/live, /healthz/ready, /health/.
# The report turns red when the oldest change not yet pushed to ACS is older than this.
HEALTH_BACKLOG_MAX_AGE = read_int("HEALTH_BACKLOG_MAX_AGE", 300, minimum=1)
# How long the report keeps ACS's answer, so frequent probes call ACS rarely.
HEALTH_ACS_CACHE_SECONDS = read_int("HEALTH_ACS_CACHE_SECONDS", 30, minimum=0)
# A load balancer probes gunicorn over plain HTTP, past the TLS proxy: no redirect to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/|$)", r"^health/"]
