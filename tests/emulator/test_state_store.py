"""State: SQLite files survive restarts and are shared; concurrent writers stay consistent."""

from __future__ import annotations

import threading

import pytest

from acs_emulator import Emulator

from .conftest import Api, FakeClock, acs_user


@pytest.fixture
def state_file(tmp_path):
    return str(tmp_path / "acs-state.sqlite3")


def test_state_survives_a_new_emulator_on_the_same_file(state_file):
    clock = FakeClock()
    first = Emulator(state_path=state_file, clock=clock)
    api = Api(first, clock)
    room = api.create_room(participants={acs_user(1): {"role": "Presenter"}})
    token = api.post(
        "/identities", json={"createTokenWithScopes": ["chat"]}, version="2023-10-01"
    ).get_json()["accessToken"]["token"]
    first.close()

    second = Emulator(access_key=first.access_key, state_path=state_file, clock=clock)
    again = Api(second, clock)
    assert again.get(f"/rooms/{room['id']}").get_json() == room
    assert again.get(f"/rooms/{room['id']}/participants").get_json()["value"] == [
        {"rawId": acs_user(1), "role": "Presenter"}
    ]
    assert second.token_status(token)["valid"] is True
    second.close()


def test_two_emulators_on_one_file_see_each_others_writes_at_once(state_file):
    clock = FakeClock()
    web = Emulator(state_path=state_file, clock=clock)
    worker = Emulator(access_key=web.access_key, state_path=state_file, clock=clock)
    web_api, worker_api = Api(web, clock), Api(worker, clock)
    room = web_api.create_room()
    worker_api.patch(
        f"/rooms/{room['id']}/participants",
        json={"participants": {acs_user(2): {"role": "Consumer"}}},
    )
    assert web_api.get(f"/rooms/{room['id']}/participants").get_json()["value"] == [
        {"rawId": acs_user(2), "role": "Consumer"}
    ]
    worker_api.delete(f"/rooms/{room['id']}")
    assert web_api.get(f"/rooms/{room['id']}").status_code == 404
    web.set_faults(error_rates={503: 1.0})
    assert worker_api.get("/rooms").status_code == 503
    worker.reset()
    assert web_api.get("/rooms").status_code == 200
    assert web.requests()["counts"] == {"Rooms_List": 1}
    web.close()
    worker.close()


@pytest.mark.parametrize("on_disk", [False, True])
def test_threads_creating_rooms_concurrently_each_get_their_own_room(state_file, on_disk):
    clock = FakeClock()
    emu = Emulator(state_path=state_file if on_disk else None, clock=clock)
    api = Api(emu, clock)
    ids: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(10):
                room = api.create_room(participants={acs_user(1): {"role": "Attendee"}})
                with lock:
                    ids.append(room["id"])
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(ids) == len(set(ids)) == 80
    listed = []
    link = "/rooms"
    while link:
        body = api.get(link, version=None if "api-version" in link else "2025-03-13").get_json()
        listed.extend(room["id"] for room in body["value"])
        link = body.get("nextLink", "").replace("http://localhost", "")
    assert sorted(listed) == sorted(ids)
    emu.close()


def test_an_emulator_without_a_key_makes_a_random_32_byte_one():
    import base64

    emu = Emulator()
    assert len(base64.b64decode(emu.access_key)) == 32
    assert emu.connection_string("http://127.0.0.1:1") == (
        f"endpoint=http://127.0.0.1:1/;accesskey={emu.access_key}"
    )
    emu.close()


def test_emulators_on_one_file_without_a_key_share_the_first_random_key(state_file):
    first = Emulator(state_path=state_file)
    second = Emulator(state_path=state_file)
    assert second.access_key == first.access_key
    explicit = Emulator(access_key="c2VjcmV0", state_path=state_file)
    assert explicit.access_key == "c2VjcmV0"
    for emu in (first, second, explicit):
        emu.close()
