"""The deployment files hold together: gunicorn's settings, the Procfile, the systemd units and
the maintenance command they run."""

import configparser
import json
import logging
import multiprocessing
import runpy
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.db import OperationalError
from django.utils import timezone
from gunicorn.config import Config

BASE_DIR = Path(__file__).resolve().parents[2]
SYSTEMD = BASE_DIR / "deploy" / "systemd"
GATEWAY_WORST_CALL = 10 + 30  # acs_gateway's connect and read timeouts


def _gunicorn_settings(monkeypatch, **environment) -> dict:
    for name in ("WEB_CONCURRENCY", "WEB_BIND", "FORWARDED_ALLOW_IPS", "LOG_FORMAT", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))


def test_gunicorn_defaults_are_sane(monkeypatch):
    conf = _gunicorn_settings(monkeypatch)
    assert conf["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert conf["timeout"] > GATEWAY_WORST_CALL
    web = _unit("acs-portal-web.service")
    assert conf["graceful_timeout"] < int(web["Service"]["TimeoutStopSec"])
    assert conf["preload_app"] is False
    assert conf["accesslog"] == "-"
    assert conf["logger_class"].__name__ == "JsonLogger"


def test_gunicorn_reads_its_environment(monkeypatch):
    conf = _gunicorn_settings(
        monkeypatch,
        WEB_CONCURRENCY="3",
        WEB_BIND="0.0.0.0:9000",
        FORWARDED_ALLOW_IPS="10.1.2.3",
        LOG_FORMAT="console",
    )
    assert (conf["workers"], conf["bind"], conf["forwarded_allow_ips"]) == (
        3,
        "0.0.0.0:9000",
        "10.1.2.3",
    )
    assert "logger_class" not in conf


@pytest.mark.parametrize("value", ["many", "0", "-2"])
def test_gunicorn_refuses_a_bad_worker_count_naming_it(monkeypatch, value):
    with pytest.raises(SystemExit, match=f"WEB_CONCURRENCY='{value}' is not valid"):
        _gunicorn_settings(monkeypatch, WEB_CONCURRENCY=value)


def test_every_gunicorn_setting_is_one_gunicorn_knows(monkeypatch):
    conf = _gunicorn_settings(monkeypatch)
    # The module's values, less its imports, helpers and its own reading of LOG_FORMAT.
    ours = {
        name
        for name, value in conf.items()
        if not name.startswith("_")
        and name.islower()
        and not isinstance(value, ModuleType)
        and (name == "logger_class" or not callable(value))
    } - {"log_format"}
    assert ours - set(Config().settings) == set()
    assert {"workers", "bind", "timeout", "forwarded_allow_ips", "logger_class"} <= ours


def test_the_access_log_is_one_json_line_with_the_request_id(monkeypatch, capsys):
    conf = _gunicorn_settings(monkeypatch)
    cfg = Config()
    cfg.set("accesslog", "-")
    access_logger = conf["logger_class"](cfg)
    response = SimpleNamespace(
        headers=[("Content-Type", "text/html"), ("X-Request-ID", "abc123")],
        status_code=404,
        sent=1137,
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/join/s3cr3t-link/",
        "QUERY_STRING": "q=Ada+Lovelace",
        "REMOTE_ADDR": "127.0.0.1",
    }
    access_logger.access(response, None, environ, timedelta(milliseconds=12.34))
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["request_id"] == "abc123"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/join/[secret]/", 404)
    assert line["duration_ms"] == 12.3
    assert "Ada" not in json.dumps(line)


def test_gunicorn_own_lines_are_json(monkeypatch, capsys):
    conf = _gunicorn_settings(monkeypatch)
    gunicorn_logger = conf["logger_class"](Config())
    gunicorn_logger.error_log.handlers[0].setStream(sys.stdout)
    gunicorn_logger.info("Booting worker with pid: %s", 42)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["event"], line["level"]) == ("Booting worker with pid: 42", "info")
    logging.getLogger("gunicorn.error").handlers.clear()


# --------------------------------------------------------------------------- Procfile


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def _manage_py_command(command: str) -> str | None:
    words = shlex.split(command)
    if "manage.py" not in words[:3]:
        return None
    return words[words.index("manage.py") + 1]


def test_the_procfile_runs_web_two_workers_and_maintenance():
    entries = _procfile()
    assert entries["web"] == "gunicorn --config gunicorn.conf.py config.wsgi"
    workers = [name for name, command in entries.items() if "run_worker" in command]
    assert len(workers) == 2
    assert _manage_py_command(entries["maintenance"]) == "maintenance"


def test_every_manage_py_command_of_the_procfile_and_the_units_exists():
    commands = [_manage_py_command(command) for command in _procfile().values()]
    commands += [_manage_py_command(_exec_start(unit)) for unit in SYSTEMD.glob("*.service")]
    commands = [name for name in commands if name]
    assert set(commands) == {"run_worker", "maintenance"}
    assert set(commands) <= set(get_commands())


def test_the_procfile_commands_parse_with_their_options():
    # Each manage.py command's parser accepts the Procfile's arguments.
    from django.core.management import load_command_class

    for command in _procfile().values():
        if name := _manage_py_command(command):
            words = shlex.split(command)
            arguments = words[words.index(name) + 1 :]
            parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
            parser.parse_args(arguments)


def test_honcho_finds_the_procfile_valid():
    honcho = Path(sys.executable).parent / "honcho"
    result = subprocess.run(
        [str(honcho), "check"], cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "web, worker1, worker2, maintenance" in result.stderr


# --------------------------------------------------------------------------- systemd


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keys keep their case
    unit.read(SYSTEMD / name)
    return unit


def _exec_start(path: Path) -> str:
    return _unit(path.name)["Service"]["ExecStart"]


def test_the_units_are_web_a_worker_template_and_a_maintenance_timer():
    assert sorted(p.name for p in SYSTEMD.iterdir()) == [
        "acs-portal-maintenance.service",
        "acs-portal-maintenance.timer",
        "acs-portal-web.service",
        "acs-portal-worker@.service",
    ]
    assert "gunicorn --config gunicorn.conf.py config.wsgi" in _exec_start(
        SYSTEMD / "acs-portal-web.service"
    )
    worker = _exec_start(SYSTEMD / "acs-portal-worker@.service")
    assert "%i" in worker and "run_worker --no-reload" in worker
    maintenance = _unit("acs-portal-maintenance.service")["Service"]
    assert maintenance["Type"] == "oneshot"
    timer = _unit("acs-portal-maintenance.timer")
    assert timer["Timer"]["OnCalendar"] == "daily"
    assert timer["Install"]["WantedBy"] == "timers.target"


# --------------------------------------------------------------------------- maintenance


# It closes its connections after each round, as a long-lived loop must: a transactional test.
@pytest.mark.django_db(transaction=True)
def test_maintenance_deletes_expired_sessions_and_keeps_live_ones():
    now = timezone.now()
    Session.objects.create(session_key="old", session_data="", expire_date=now - timedelta(1))
    Session.objects.create(session_key="live", session_data="", expire_date=now + timedelta(1))
    call_command("maintenance")
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]


def test_maintenance_refuses_a_negative_period():
    with pytest.raises(CommandError, match="Must be 0"):
        call_command("maintenance", "--every", "-5")


class _Stop(BaseException):
    """Ends the maintenance loop from its sleep."""


def test_the_maintenance_loop_outlives_a_failed_round(monkeypatch, caplog):
    from config.management.commands import maintenance

    rounds = []

    def clearsessions(name):
        rounds.append(name)
        if len(rounds) == 1:
            raise OperationalError("the database went away")

    def sleep(seconds):
        assert seconds == 60
        if len(rounds) == 2:
            raise _Stop

    monkeypatch.setattr(maintenance, "call_command", clearsessions)
    monkeypatch.setattr(maintenance.time, "sleep", sleep)
    with pytest.raises(_Stop):
        call_command("maintenance", "--every", "60")
    assert rounds == ["clearsessions", "clearsessions"]
    assert "Maintenance failed; trying again in 60 s" in caplog.text


def test_a_single_maintenance_run_fails_loudly(monkeypatch):
    from config.management.commands import maintenance

    def clearsessions(name):
        raise OperationalError("the database went away")

    monkeypatch.setattr(maintenance, "call_command", clearsessions)
    with pytest.raises(OperationalError):
        call_command("maintenance")
