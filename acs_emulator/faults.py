"""Injected faults: latency, error rates, throttling and dropped connections."""

from __future__ import annotations

import json
import math
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from http import HTTPStatus

from .errors import ApiError
from .store import Store

DROP_WHEN = ("before", "after", "either")

# ACS-shaped bodies for the injected statuses; other statuses use their HTTP reason phrase.
_KNOWN = {
    429: ("TooManyRequests", "The request was throttled. Retry after the time in Retry-After."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "The server received an invalid response from an upstream server."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The upstream server did not respond in time."),
}


class DropConnection(Exception):  # noqa: N818 - public name fixed by the contract
    """Raised out of the WSGI call: the server must close the socket without answering."""

    def __init__(self, applied: bool):
        super().__init__(
            "connection dropped after the request was applied"
            if applied
            else "connection dropped before the request was applied"
        )
        self.applied = applied


@dataclass
class FaultConfig:
    latency_ms: float = 0
    error_rates: dict[int, float] = field(default_factory=dict)
    throttle_rps: float | None = None
    drop_rate: float = 0.0
    drop_when: str = "either"
    seed: int | None = None
    version: str = ""

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.error_rates or self.throttle_rps or self.drop_rate)

    def public(self) -> dict:
        data = asdict(self)
        data.pop("version")
        data["error_rates"] = {str(k): v for k, v in self.error_rates.items()}
        return data


def build_config(
    latency_ms=0, error_rates=None, throttle_rps=None, drop_rate=0.0, drop_when="either", seed=None
) -> FaultConfig:
    """Validate set_faults() arguments; ValueError on nonsense."""
    rates: dict[int, float] = {}
    for status, rate in (error_rates or {}).items():
        code = int(status)
        if not 400 <= code <= 599:
            raise ValueError(f"error_rates status must be 4xx or 5xx, got {status}")
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"error rate for {status} must be within [0, 1]")
        rates[code] = rate
    if sum(rates.values()) > 1.0 + 1e-9:
        raise ValueError("error rates add up to more than 1")
    if drop_when not in DROP_WHEN:
        raise ValueError(f"drop_when must be one of {', '.join(DROP_WHEN)}")
    drop_rate = float(drop_rate or 0.0)
    if not 0.0 <= drop_rate <= 1.0:
        raise ValueError("drop_rate must be within [0, 1]")
    latency_ms = float(latency_ms or 0)
    if latency_ms < 0:
        raise ValueError("latency_ms must not be negative")
    if throttle_rps is not None:
        throttle_rps = float(throttle_rps)
        if throttle_rps <= 0:
            raise ValueError("throttle_rps must be positive")
    return FaultConfig(
        latency_ms=latency_ms,
        error_rates=rates,
        throttle_rps=throttle_rps,
        drop_rate=drop_rate,
        drop_when=drop_when,
        seed=None if seed is None else int(seed),
        version=secrets.token_hex(8),
    )


def error_response(status: int, retry_after: int | None = None) -> ApiError:
    code, message = _KNOWN.get(status, (None, None))
    if code is None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        code, message = phrase.replace(" ", ""), phrase + "."
    headers = {"x-ms-error-code": code}
    if status in (429, 503):
        headers["Retry-After"] = str(retry_after or 1)
    return ApiError(status, {"error": {"code": code, "message": message}}, headers)


class Faults:
    """Fault settings live in the store (shared by processes); dice and throttle are per process."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._version: str | None = None
        self._config = FaultConfig()
        self._rng = random.Random()
        self._window: deque[float] = deque()

    def set(self, config: FaultConfig) -> None:
        data = config.public()
        data["version"] = config.version
        self.store.set_meta("faults", json.dumps(data))

    def clear(self) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM meta WHERE key = 'faults'")

    def current(self) -> FaultConfig:
        raw = self.store.get_meta("faults")
        with self._lock:
            if raw is None:
                config = FaultConfig()
            else:
                data = json.loads(raw)
                if data.get("version") == self._version:
                    return self._config
                version = data.pop("version")
                config = build_config(**data)
                config.version = version
            if config.version != self._version:
                self._version = config.version
                self._config = config
                self._rng = random.Random(config.seed)
                self._window.clear()
            return self._config

    def roll(self) -> float:
        with self._lock:
            return self._rng.random()

    def pick_error(self, config: FaultConfig) -> int | None:
        if not config.error_rates:
            return None
        dice = self.roll()
        total = 0.0
        for status, rate in sorted(config.error_rates.items()):
            total += rate
            if dice < total:
                return status
        return None

    def drop_phase(self, config: FaultConfig) -> str | None:
        """'before', 'after' or None for this request."""
        if not config.drop_rate or self.roll() >= config.drop_rate:
            return None
        if config.drop_when == "either":
            return "before" if self.roll() < 0.5 else "after"
        return config.drop_when

    def throttle(self, config: FaultConfig) -> int | None:
        """Seconds to wait when this request goes over throttle_rps, else None (and counted)."""
        if not config.throttle_rps:
            return None
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= config.throttle_rps:
                return max(1, math.ceil(self._window[0] + 1.0 - now))
            self._window.append(now)
            return None

    @staticmethod
    def sleep(config: FaultConfig) -> None:
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000.0)
