"""python -m acs_emulator: prints its connection string (and CA bundle) before serving."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "acs_emulator", "--port", "0", "--quiet", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: dict[str, str] = {}
    wanted = 2 if "--tls" in args else 1
    while len(lines) < wanted:
        line = process.stdout.readline()
        assert line, "the emulator exited before printing its connection string"
        name, _, value = line.strip().partition("=")
        lines[name] = value
    return process, lines


def test_the_command_prints_a_connection_string_with_the_real_port():
    process, lines = _start("--key", "c2VjcmV0LWtleS1mb3ItdGhlLWVtdWxhdG9yLXRlc3Q=")
    try:
        connection = lines["ACS_CONNECTION_STRING"]
        assert connection.startswith("endpoint=http://127.0.0.1:")
        assert connection.endswith(";accesskey=c2VjcmV0LWtleS1mb3ItdGhlLWVtdWxhdG9yLXRlc3Q=")
        endpoint = connection.split(";")[0].removeprefix("endpoint=")
        assert not endpoint.endswith(":0/")
        assert requests.get(f"{endpoint}_emulator/health", timeout=5).json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_serves_https_with_a_generated_ca(tmp_path):
    process, lines = _start("--tls", "--state", str(tmp_path / "state.sqlite3"))
    try:
        endpoint = lines["ACS_CONNECTION_STRING"].split(";")[0].removeprefix("endpoint=")
        assert endpoint.startswith("https://127.0.0.1:")
        response = requests.get(f"{endpoint}_emulator/health", verify=lines["ACS_CA_BUNDLE"])
        assert response.ok
    finally:
        process.terminate()
        process.wait(timeout=10)
