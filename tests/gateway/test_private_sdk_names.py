"""The private SDK names acs_gateway leans on still exist in the pinned SDK versions.

A new azure-core or azure-communication-* release may rename them; this fails first, naming the
one that moved, instead of a push failing at run time.
"""

import importlib
import logging

import pytest
from azure.communication.identity import CommunicationIdentityClient
from azure.communication.rooms import RoomsClient

import acs_gateway as acs


def test_the_in_process_transport_builds_on_azure_cores_response_implementation():
    module = importlib.import_module("azure.core.rest._http_response_impl")
    assert isinstance(module.HttpResponseImpl, type)
    # The tests' async twin uses the async one.
    async_module = importlib.import_module("azure.core.rest._http_response_impl_async")
    assert isinstance(async_module.AsyncHttpResponseImpl, type)


def test_the_rooms_client_keeps_its_generated_participants_update():
    client = acs.rooms_client()
    update = client._rooms_service_client.participants.update
    assert callable(update)


def test_the_identity_client_keeps_its_generated_service_client():
    client = acs.identity_client()
    assert callable(client._identity_service_client.close)


@pytest.mark.parametrize("cls", [RoomsClient, CommunicationIdentityClient])
def test_the_sdk_clients_accept_the_transport_and_policy_keywords(cls):
    # make_client() passes these; a client that dropped them would silently use the network.
    client = (acs.rooms_client if cls is RoomsClient else acs.identity_client)()
    transports = {
        type(getattr(client, name)._client._pipeline._transport).__name__
        for name in ("_rooms_service_client", "_identity_service_client")
        if hasattr(client, name)
    }
    assert transports == {"WsgiTransport"}


def test_the_naive_datetime_notice_filter_targets_an_sdk_logger_that_exists():
    importlib.import_module("azure.communication.rooms._generated._serialization")
    logger = logging.getLogger("azure.communication.rooms._generated._serialization")
    assert any(type(f).__name__ == "_DropNaiveDatetimeNotice" for f in logger.filters)
