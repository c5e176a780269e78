"""Time zones: the list people choose from, and the zone each request is shown in.

A request is shown in the signed-in user's saved zone (portal.models.Preference), else the zone
their browser reports (a cookie static/js/portal.js sets), else the server's TIME_ZONE (UTC).

The list is the IANA database's canonical zones, read from the `tzdata.zi` that zoneinfo itself
reads (the system's, else the `tzdata` package's): its "Z" lines are zones, its "L" lines links
(old or alternative names such as Asia/Calcutta). Only zones under the nine geographic regions,
and UTC, are offered; "Factory", "localtime", "posixrules", the Etc/GMT±n offsets and the
pre-1993 names (EST5EDT, CET) are not places anyone lives. A browser that reports a link
(Chrome still says Europe/Kiev) gets the zone the link names.
"""

import importlib.resources
import logging
import time
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.utils import timezone

from portal.models import Preference

logger = logging.getLogger(__name__)

COOKIE = "portal_tz"
UTC_NAME = "UTC"
# The regions offered, each an <optgroup> of the select, in this order after UTC.
REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)
# No IANA name is longer (America/Argentina/ComodRivadavia is 32); longer input is not a zone.
MAX_NAME = 64

# ----------------------------------------------------------------------------- the zone list


@dataclass(frozen=True)
class ZoneTable:
    """The zones offered and the links (alias → zone) that lead to them."""

    zones: frozenset[str]
    links: dict[str, str] = field(default_factory=dict)


def parse_tzdata_zi(text: str) -> tuple[set[str], dict[str, str]]:
    """The zone names ("Z NAME …") and links ("L TARGET ALIAS") of a tzdata.zi file."""
    zones: set[str] = set()
    links: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "Z":
            zones.add(parts[1])
        elif len(parts) >= 3 and parts[0] == "L":
            links[parts[2]] = parts[1]
    return zones, links


def curate(zones: set[str], links: dict[str, str], loadable: set[str]) -> ZoneTable:
    """The geographic zones and UTC among `zones`; links resolved to the zone they end at.

    `loadable` are the names zoneinfo can open: a zone the data names but cannot be loaded
    here is not offered.
    """
    offered = {
        name for name in zones if name.split("/", 1)[0] in REGIONS and "/" in name
    } & loadable
    offered.add(UTC_NAME)
    # Etc/UTC is the zone; "UTC" is the link everyone knows it by: offer it as "UTC".
    resolved: dict[str, str] = {"Etc/UTC": UTC_NAME}
    for alias in links:
        target, hops = links[alias], 0
        # A link may name another link in some builds: follow a few hops, never a loop.
        while target in links and hops < 8:
            target, hops = links[target], hops + 1
        if target == "Etc/UTC":
            target = UTC_NAME
        if target in offered and alias not in offered:
            resolved[alias] = target
    return ZoneTable(zones=frozenset(offered), links=resolved)


def _read_tzdata_zi() -> str | None:
    """tzdata.zi from where zoneinfo reads zones: its search path first, then `tzdata`."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "tzdata.zi"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return (
            importlib.resources.files("tzdata.zoneinfo")
            .joinpath("tzdata.zi")
            .read_text(encoding="utf-8")
        )
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None


@lru_cache(maxsize=1)
def table() -> ZoneTable:
    """The zones offered on this machine (read once per process)."""
    loadable = set(zoneinfo.available_timezones())
    text = _read_tzdata_zi()
    if text is None:
        # No tzdata.zi anywhere: links cannot be told from zones, so region names are offered
        # as they are (each still a real zone). Logged, because the list is then longer.
        logger.warning("No tzdata.zi found: the time zone list includes alternative names.")
        return curate(loadable, {}, loadable)
    zones, links = parse_tzdata_zi(text)
    return curate(zones, links, loadable)


def canonical(name: str | None) -> str | None:
    """The offered zone a name means (itself, or where its link leads), or None."""
    if not name or len(name) > MAX_NAME:
        return None
    zones = table()
    if name in zones.zones:
        return name
    return zones.links.get(name)


def parse(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The offered zone named (a link gives its zone), or None for anything else."""
    name = canonical(name)
    return zoneinfo.ZoneInfo(name) if name else None


def label(name: str) -> str:
    return name.replace("_", " ")


@lru_cache(maxsize=1)
def _choices() -> tuple:
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in REGIONS}
    for name in sorted(table().zones - {UTC_NAME}):
        groups[name.split("/", 1)[0]].append((name, label(name)))
    return (
        (UTC_NAME, UTC_NAME),
        *((region, groups[region]) for region in REGIONS if groups[region]),
    )


def choices() -> list:
    """The select's choices: UTC, then one group (an <optgroup>) per region, A to Z."""
    return list(_choices())


# ----------------------------------------------------------------------------- the user's zone

# The signed-in user's saved zone, cached in their session as [name, read at]: the middleware
# reads no table per request. Re-read after this many seconds, so a zone saved in another
# browser reaches this one within minutes; the setting page and sign-in write it at once.
SESSION_KEY = "portal_tz_preference"
REREAD_AFTER = 300


def saved_zone(user) -> str:
    """The zone the user saved ("" for none: follow the browser), from the database."""
    name = Preference.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return canonical(name) or ""


def remember(session, name: str) -> None:
    """Put the user's saved zone in their session (after sign-in and after saving it)."""
    session[SESSION_KEY] = [name, int(time.time())]


def remember_at_sign_in(sender, request, user, **kwargs) -> None:
    """A sign-in reads the user's zone once (connected in PortalConfig.ready)."""
    session = getattr(request, "session", None)
    if session is not None:
        remember(session, saved_zone(user))


def preferred_zone_name(request) -> str:
    """The signed-in user's saved zone ("" for none), from their session when recent."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if session is None or user is None or not user.is_authenticated:
        return ""
    cached, now = session.get(SESSION_KEY), int(time.time())
    if (
        isinstance(cached, list)
        and len(cached) == 2
        and isinstance(cached[0], str)
        and isinstance(cached[1], int)
        and 0 <= now - cached[1] < REREAD_AFTER
    ):
        return cached[0]
    name = saved_zone(user)
    remember(session, name)
    return name


def browser_zone_name(request) -> str:
    """The zone the browser reported, as an offered zone ("" if none or not a zone)."""
    return canonical(request.COOKIES.get(COOKIE)) or ""


class TimezoneMiddleware:
    """Activate the user's zone (saved, else the browser's), so every time is shown in it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = parse(preferred_zone_name(request) or browser_zone_name(request))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
