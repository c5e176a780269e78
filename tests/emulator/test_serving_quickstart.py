"""Microsoft's Rooms quickstart, unchanged, against `python -m acs_emulator --tls` as a process."""

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from acs_emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = Path(__file__).with_name("quickstart_rooms.py")
# Guards against a hung subprocess; not a performance expectation.
STARTUP_GUARD_S = 60
RUN_GUARD_S = 120


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


@pytest.fixture
def served(tmp_path):
    """A TLS emulator subprocess on a free port; yields its two announced settings and state."""
    state = tmp_path / "emulator.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "acs_emulator", "--tls", "--port", "0", "--state", str(state)],
        cwd=REPO,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    announced = {}
    try:
        while not {"ACS_CONNECTION_STRING", "ACS_CA_BUNDLE"} <= announced.keys():
            name, _, value = lines.get(timeout=STARTUP_GUARD_S).strip().partition("=")
            announced[name] = value
        yield announced, state
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_it_runs_the_rooms_quickstart_unchanged_over_tls(served):
    announced, state = served
    env = clean_env(
        ACS_CONNECTION_STRING=announced["ACS_CONNECTION_STRING"],
        REQUESTS_CA_BUNDLE=announced["ACS_CA_BUNDLE"],
    )

    result = subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_GUARD_S,
    )

    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert announced["ACS_CONNECTION_STRING"].startswith("endpoint=https://127.0.0.1:")
    assert "Created a room with id: " in out
    room_id = out.split("Created a room with id: ", 1)[1].split()[0]
    assert f"Get room with id: {room_id}" in out
    assert "The room has been updated.\nPSTN dial-out enabled: True" in out
    assert f"Printing the first room in list\nRoom Id: {room_id}" in out
    assert "Add or update participants in room" in out
    roster = out.split("Retrieved participants for room:\n", 1)[1].split("\n\n", 1)[0]
    assert sorted(line.split()[-1] for line in roster.strip().splitlines()) == [
        "Attendee",
        "Collaborator",
        "Presenter",
    ]
    assert "Removed participants from room" in out
    assert f"Deleted room with id: {room_id}" in out
    # The quickstart prints HttpResponseErrors instead of failing; their text carries "Code:".
    assert "Error" not in out
    assert "Code:" not in out
    counts = Emulator(state_path=str(state)).requests()["counts"]
    assert counts == {
        "Identity_Create": 3,
        "Rooms_Create": 1,
        "Rooms_Get": 1,
        "Rooms_Update": 1,
        "Rooms_List": 1,
        "Participants_Update": 2,
        "Participants_List": 1,
        "Rooms_Delete": 1,
    }
