"""Every URL of the portal as a concrete path, for tests that must cover them all."""

from django.urls import URLPattern, URLResolver, get_resolver

# Sample values for path converters; objects that do not exist answer 404 after the access checks.
_SAMPLES = {
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "path": "sample",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        pattern = entry.pattern
        route = getattr(pattern, "_route", None)
        if route is None:
            # Regex patterns (the admin's catch-alls) are covered by their concrete neighbours.
            continue
        for name, converter in pattern.converters.items():
            kind = {
                "IntConverter": "int",
                "UUIDConverter": "uuid",
                "SlugConverter": "slug",
                "PathConverter": "path",
            }.get(type(converter).__name__, "str")
            for spelling in (f"<{kind}:{name}>", f"<{name}>"):
                route = route.replace(spelling, _SAMPLES[kind])
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route, entry


def all_urls() -> list[tuple[str, URLPattern]]:
    return [("/" + path, entry) for path, entry in _walk(get_resolver().url_patterns)]
