"""The user's time zone: chosen in the browser (a cookie portal.js sets), UTC until known."""

import zoneinfo
from functools import lru_cache

from django.utils import timezone

COOKIE = "portal_tz"


@lru_cache(maxsize=1)
def available() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone named, or None for anything that is not an IANA zone name."""
    if not name or len(name) > 64 or name not in available():
        return None
    return zoneinfo.ZoneInfo(name)


def choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(available())]


class TimezoneMiddleware:
    """Activate the zone the browser reported, so every time is shown in the user's zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = parse(request.COOKIES.get(COOKIE))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
