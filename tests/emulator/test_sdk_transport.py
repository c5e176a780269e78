"""The in-process WSGI transports: real SDK pipelines talking to a WSGI app without a socket."""

import asyncio
import base64
import json

import pytest
from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest

import acs_gateway as acs
from acs_emulator import DropConnection
from tests.emulator import async_clients

pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

KEY = base64.b64encode(b"k" * 32).decode()
ROOM = {
    "id": "99454291444134085",
    "createdAt": "2025-02-19T07:29:46.300638+00:00",
    "validFrom": "2025-02-19T07:29:46.2571369+00:00",
    "validUntil": "2025-08-18T07:29:46.2571369+00:00",
    "pstnDialOutEnabled": True,
}


class StubApp:
    """A WSGI app that records each environ and answers from a queue of canned responses."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.environs = []
        self.bodies = []

    def connection_string(self, endpoint):
        return f"endpoint={endpoint};accesskey={KEY}"

    def __call__(self, environ, start_response):
        self.environs.append(environ)
        self.bodies.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"] or 0)))
        response = self.responses.pop(0) if self.responses else (200, [], b"{}")
        if isinstance(response, Exception):
            raise response
        status, headers, body = response
        start_response(f"{status} X", [("Content-Type", "application/json"), *headers])
        return [body[:3], body[3:]]


def json_response(status, body, *headers):
    return status, list(headers), json.dumps(body).encode()


def test_it_is_an_azure_core_http_transport():
    assert isinstance(acs.WsgiTransport(StubApp()), HttpTransport)


def test_it_builds_the_environ_a_socket_server_would():
    app = StubApp(json_response(201, ROOM))
    client = acs.rooms_client(app.connection_string("http://127.0.0.1:8123/"), app=app)

    client.create_room(pstn_dial_out_enabled=True)

    environ = app.environs[0]
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/rooms"
    assert environ["QUERY_STRING"] == "api-version=2025-03-13"
    assert environ["HTTP_HOST"] == "127.0.0.1:8123"
    assert environ["SERVER_PORT"] == "8123"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["HTTP_AUTHORIZATION"].startswith("HMAC-SHA256 SignedHeaders=")
    assert environ["HTTP_X_MS_CONTENT_SHA256"]
    assert json.loads(app.bodies[0])["pstnDialOutEnabled"] is True
    assert int(environ["CONTENT_LENGTH"]) == len(app.bodies[0])


def test_it_keeps_the_raw_query_and_decodes_the_path():
    app = StubApp(json_response(200, {"value": []}))
    client = acs.rooms_client(app.connection_string("https://acs.test"), app=app)
    request = HttpRequest("GET", "https://acs.test/rooms/a%3Ab?nextLink=eyJ%3D&api-version=1")

    client._rooms_service_client.send_request(request)

    assert app.environs[0]["PATH_INFO"] == "/rooms/a:b"
    assert app.environs[0]["QUERY_STRING"] == "nextLink=eyJ%3D&api-version=1"
    assert app.environs[0]["SERVER_PORT"] == "443"


def test_it_returns_status_headers_and_body_to_the_sdk():
    app = StubApp(json_response(200, ROOM, ("MS-CV", "cv-1")))
    client = acs.rooms_client(app.connection_string("https://acs.test"), app=app)
    seen = {}

    room = client.get_room("99454291444134085", raw_response_hook=lambda r: seen.update(r=r))

    assert room.id == ROOM["id"]
    assert room.pstn_dial_out_enabled is True
    response = seen["r"].http_response
    assert response.status_code == 200
    assert response.headers["ms-cv"] == "cv-1"
    assert response.json() == ROOM
    assert response.text() == json.dumps(ROOM)
    assert b"".join(response.iter_bytes()) == json.dumps(ROOM).encode()


def test_it_lets_the_sdk_map_error_statuses():
    app = StubApp(json_response(404, {"error": {"code": "NotFound", "message": "gone"}}))
    client = acs.rooms_client(app.connection_string("https://acs.test"), app=app)

    with pytest.raises(ResourceNotFoundError, match="gone"):
        client.get_room("99454291444134085")


def test_it_follows_next_links_through_the_sdk_pager():
    page_one = {"value": [ROOM], "nextLink": "https://acs.test/rooms?nextLink=abc%3D"}
    app = StubApp(json_response(200, page_one), json_response(200, {"value": [ROOM]}))
    client = acs.rooms_client(app.connection_string("https://acs.test"), app=app)

    rooms = list(client.list_rooms())

    assert len(rooms) == 2
    assert app.environs[1]["QUERY_STRING"] == "nextLink=abc%3D&api-version=2025-03-13"


def test_it_folds_repeated_response_headers():
    app = StubApp((200, [("X-A", "1"), ("x-a", "2")], json.dumps(ROOM).encode()))
    client = acs.rooms_client(app.connection_string("https://acs.test"), app=app)
    seen = {}

    client.get_room("1", raw_response_hook=lambda r: seen.update(r=r))

    assert seen["r"].http_response.headers["X-A"] == "1, 2"


@pytest.mark.parametrize(
    ("applied", "error"), [(True, ServiceResponseError), (False, ServiceRequestError)]
)
def test_it_turns_a_dropped_connection_into_the_socket_error_azure_core_raises(applied, error):
    drop = DropConnection(applied)
    app = StubApp(drop)
    client = acs.rooms_client(app.connection_string("https://acs.test"), app=app, retry_total=0)

    with pytest.raises(error) as raised:
        client.get_room("1")

    assert raised.value.__cause__ is drop or raised.value.inner_exception is drop


def test_it_lets_the_sdk_retry_after_a_connection_dropped_before_sending():
    drop = DropConnection(False)
    app = StubApp(drop, json_response(200, ROOM))
    client = acs.rooms_client(
        app.connection_string("https://acs.test"), app=app, retry_backoff_factor=0
    )

    assert client.get_room("1").id == ROOM["id"]
    assert len(app.environs) == 2


def test_the_async_transport_runs_the_aio_pipeline_with_paging():
    page_one = {"value": [ROOM], "nextLink": "https://acs.test/rooms?nextLink=abc"}
    app = StubApp(
        json_response(201, ROOM), json_response(200, page_one), json_response(200, {"value": []})
    )

    async def scenario():
        async with async_clients.async_rooms_client(
            app.connection_string("https://acs.test"), app=app
        ) as c:
            created = await c.create_room()
            listed = [room.id async for room in c.list_rooms()]
        return created, listed

    created, listed = asyncio.run(scenario())

    assert created.id == ROOM["id"]
    assert listed == [ROOM["id"]]
    assert app.environs[0]["HTTP_AUTHORIZATION"].startswith("HMAC-SHA256")


def test_the_async_transport_maps_a_dropped_connection_too():
    drop = DropConnection(True)
    app = StubApp(drop)

    async def scenario():
        client = async_clients.async_rooms_client(
            app.connection_string("https://acs.test"), app=app, retry_total=0
        )
        async with client:
            await client.get_room("1")

    with pytest.raises(ServiceResponseError):
        asyncio.run(scenario())
