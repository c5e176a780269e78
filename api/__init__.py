"""The REST API for other systems: the pages' services and permissions behind bearer tokens."""
