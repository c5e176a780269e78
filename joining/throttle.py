"""How often one join link may ask for a token: a fixed window counted in Django's cache.

Keyed by the link's id, never its secret. With the default local-memory cache each process
counts on its own (N gunicorn workers allow up to N times the limit); a shared cache (Redis,
the database) makes it one count.
"""

import math
import time

from django.core.cache import cache

TOKENS_PER_WINDOW = 10
WINDOW_SECONDS = 600


def _keys(link_id: int) -> tuple[str, str]:
    return f"joining:tokens:{link_id}:start", f"joining:tokens:{link_id}:count"


def take(link_id: int) -> int | None:
    """Count one request; None if it may go on, else the seconds until the window ends."""
    start_key, count_key = _keys(link_id)
    now = time.time()
    start = cache.get(start_key)
    if start is None:
        start = now
        cache.set(start_key, start, WINDOW_SECONDS)
        cache.set(count_key, 0, WINDOW_SECONDS)
    try:
        count = cache.incr(count_key)
    except ValueError:  # the count expired between the two reads: a new window
        cache.set(start_key, now, WINDOW_SECONDS)
        cache.set(count_key, 1, WINDOW_SECONDS)
        count, start = 1, now
    if count > TOKENS_PER_WINDOW:
        return max(1, math.ceil(start + WINDOW_SECONDS - now))
    return None
