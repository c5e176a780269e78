"""Deployment checks of the portal's own (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOCAL_MEMORY = "django.core.cache.backends.locmem.LocMemCache"


@register(Tags.security, deploy=True)
def shared_cache(app_configs, **kwargs) -> list[Warning]:
    """The rate limits (join tokens, the API) count in the default cache: in local memory each
    web process counts alone, so N processes allow N times the limit."""
    if settings.CACHES["default"]["BACKEND"] != LOCAL_MEMORY:
        return []
    return [
        Warning(
            "The cache is each process's own memory, so rate limits (join tokens, the API) "
            "count per process.",
            hint="Set CACHE_URL to a shared cache: dbcache://portal_cache (then run "
            "`manage.py createcachetable`) or redis://host:6379/0.",
            id="portal.W001",
        )
    ]
