"""CACHE_URL: the cache the rate limits count in, and the deployment check that wants it shared."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import checks
from portal.env import read_cache


def test_unset_it_is_the_processs_own_memory():
    assert read_cache("CACHE_URL", {})["BACKEND"] == checks.LOCAL_MEMORY


@pytest.mark.parametrize(
    ("url", "backend", "location"),
    [
        ("dbcache://portal_cache", "django.core.cache.backends.db.DatabaseCache", "portal_cache"),
        ("redis://cache:6379/0", "django.core.cache.backends.redis.RedisCache", None),
    ],
)
def test_a_shared_cache_is_read_from_its_url(url, backend, location):
    config = read_cache("CACHE_URL", {"CACHE_URL": url})
    assert config["BACKEND"] == backend
    if location:
        assert config["LOCATION"] == location


def test_a_malformed_url_stops_start_up_naming_it():
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL='nonsense://x' is not valid"):
        read_cache("CACHE_URL", {"CACHE_URL": "nonsense://x"})


def test_check_deploy_warns_while_rate_limits_count_per_process(settings):
    settings.CACHES = {"default": {"BACKEND": checks.LOCAL_MEMORY}}
    assert [w.id for w in checks.shared_cache(None)] == ["portal.W001"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache"}}
    assert checks.shared_cache(None) == []
