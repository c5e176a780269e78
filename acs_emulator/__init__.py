"""Local emulator of the Azure Communication Services Rooms and Identity REST APIs."""

from .app import Emulator
from .faults import DropConnection
from .server import ServerHandle, serve, start_server

__all__ = ["DropConnection", "Emulator", "ServerHandle", "serve", "start_server"]
