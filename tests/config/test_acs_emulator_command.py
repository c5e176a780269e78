"""`manage.py acs_emulator` serves the portal's own emulator state to outside ACS clients."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.communication.rooms import RoomsClient
from azure.core.credentials import AzureKeyCredential

from acs_emulator import Emulator
from acs_gateway import WsgiTransport, parse_connection_string

REPO = Path(__file__).resolve().parents[2]


def test_it_serves_the_rooms_the_portal_pushed(tmp_path):
    state = tmp_path / "acs.sqlite3"
    # The portal's embedded emulator made a room in this state file...
    portal_side = Emulator(state_path=str(state))
    client = RoomsClient(
        "https://acs-emulator.local",
        AzureKeyCredential(portal_side.access_key),
        transport=WsgiTransport(portal_side),
        api_version="2025-03-13",
    )
    now = datetime.now(UTC)
    made = client.create_room(valid_from=now, valid_until=now + timedelta(hours=1))
    portal_side.close()

    # ...and the command serves that same state over HTTP.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ACS_EMULATOR_STATE": str(state),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "acs_emulator", "--port", "0", "--state", str(state)],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("ACS_CONNECTION_STRING=endpoint=http://127.0.0.1:")
        endpoint, key = parse_connection_string(line.split("=", 1)[1])
        remote = RoomsClient(
            endpoint.rstrip("/"), AzureKeyCredential(key), api_version="2025-03-13"
        )
        assert remote.get_room(room_id=made.id).id == made.id
    finally:
        process.terminate()
        process.wait(timeout=10)
