"""Strict readers of the environment: a bad value stops start-up with a message naming it."""

import os
import warnings
import zoneinfo
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ_map: dict | None = None) -> str | None:
    value = (os.environ if environ_map is None else environ_map).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")


def read_bool(name: str, default: bool, environ_map: dict | None = None) -> bool:
    value = _raw(name, environ_map)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _fail(name, value, "one of true/false, 1/0, yes/no, on/off")


def read_int(name: str, default: int, *, minimum: int = 0, environ_map: dict | None = None) -> int:
    value = _raw(name, environ_map)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _fail(name, value, "a whole number") from None
    if number < minimum:
        raise _fail(name, value, f"a whole number of at least {minimum}")
    return number


def read_str(name: str, default: str = "", environ_map: dict | None = None) -> str:
    value = _raw(name, environ_map)
    return default if value is None else value


def read_choice(
    name: str, default: str, choices: tuple[str, ...], environ_map: dict | None = None
) -> str:
    value = _raw(name, environ_map)
    if value is None:
        return default
    if value not in choices:
        raise _fail(name, value, "one of " + ", ".join(choices))
    return value


def read_list(name: str, default: list[str], environ_map: dict | None = None) -> list[str]:
    value = _raw(name, environ_map)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise _fail(name, value, "a comma-separated list without empty items")
    return items


def read_time_zone(name: str, default: str, environ_map: dict | None = None) -> str:
    value = _raw(name, environ_map) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail(name, value, "an IANA time zone name such as Europe/Paris or UTC") from None
    return value


def read_database(name: str, default_sqlite: Path, environ_map: dict | None = None) -> dict:
    """Parse DATABASE_URL; SQLite gets WAL and a busy timeout so web and worker can share it."""
    value = _raw(name, environ_map)
    if value is None:
        value = f"sqlite:///{default_sqlite}"
    try:
        with warnings.catch_warnings():
            # an unknown scheme only warns; it is refused below with the variable's name
            warnings.simplefilter("ignore")
            config = environ.Env.db_url_config(value)
    except Exception as exc:
        raise _fail(
            name, value, f"a database URL such as postgres://user@host/db ({exc})"
        ) from None
    engine = config.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3":
        if not config.get("NAME"):
            raise _fail(
                name, value, "a SQLite URL naming a file, such as sqlite:////path/db.sqlite3"
            )
        if config["NAME"] != ":memory:":
            Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = {
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing
            # half-way with "database is locked"; the timeout is how long they queue.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            **config.get("OPTIONS", {}),
        }
    elif engine == "django.db.backends.postgresql":
        if not config.get("NAME"):
            raise _fail(
                name, value, "a PostgreSQL URL naming a database, such as postgres://host/db"
            )
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
        # JIT compiles queries it estimates as costly (searches, admin filters over 10,000 rooms)
        # and took 2.5-3 s doing so where the query itself ran in 0.1-0.3 s.
        config["OPTIONS"] = {"options": "-c jit=off", **config.get("OPTIONS", {})}
    else:
        raise _fail(name, value, "a sqlite:// or postgres:// URL")
    return config


def read_cache(name: str, environ_map: dict | None = None) -> dict:
    """Parse CACHE_URL (django-environ: locmemcache://, dbcache://table, redis://host:6379/0);
    unset, the process's own memory."""
    value = _raw(name, environ_map) or "locmemcache://"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return environ.Env.cache_url_config(value)
    except Exception as exc:
        raise _fail(
            name,
            value,
            f"a cache URL such as dbcache://portal_cache or redis://host:6379/0 ({exc})",
        ) from None
