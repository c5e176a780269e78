"""The project: settings, URLs, WSGI/ASGI, the dashboard and project-wide commands.

The top layer: it may import every app; nothing imports it (see docs/architecture.md).
"""
