"""Fixtures for the operations tests: a fresh ACS answer for the health report each test."""

import pytest
from django.core.cache import cache

from config.health import ACS_CACHE_KEY


@pytest.fixture(autouse=True)
def _forget_acs_answer():
    """The report keeps ACS's answer for 30 s; each test asks afresh."""
    cache.delete(ACS_CACHE_KEY)
    yield
    cache.delete(ACS_CACHE_KEY)
