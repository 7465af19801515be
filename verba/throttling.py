"""Rate limiting of the Business API: API_THROTTLE requests per period, per client identity,
and API_TOKEN_THROTTLE RequestToken attempts per key and per client address.

A token bucket per identity, in process: it allows bursts up to the rate and refills
steadily, costs a dictionary lookup under a lock, and needs no shared cache. With several
worker processes each keeps its own buckets, so the effective limit is the rate times the
number of processes (docs/api.md says so).
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PERIODS.update({"h": 3600, "hour": 3600, "d": 86400, "day": 86400})
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
_MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@lru_cache(maxsize=8)
def parse_rate(text: str, setting: str = "API_THROTTLE") -> Rate | None:
    """`600/min` → Rate(600, 60); `off` → None. Anything else is a configuration error."""
    if text.strip().lower() in {"off", "none", "0", ""}:
        return None
    match = _RATE.match(text.lower())
    if not match or match.group(2) not in _PERIODS or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f"{setting} must look like 600/min (per sec, min, hour or day) or be off, not {text!r}."
        )
    return Rate(int(match.group(1)), _PERIODS[match.group(2)])


class TokenBuckets:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # identity → (tokens, stamp)
        self._lock = threading.Lock()

    def take(self, identity: str, rate: Rate) -> float:
        """Spend one request; 0 when allowed, else the seconds until one is allowed."""
        return self.take_all((identity,), rate)

    def take_all(self, identities: tuple[str, ...], rate: Rate) -> float:
        """Spend one request from each bucket when every one has room (0), else spend none
        and return the seconds until all of them have."""
        now = time.monotonic()
        with self._lock:
            levels = {}
            for identity in identities:
                tokens, stamp = self._buckets.get(identity, (float(rate.requests), now))
                levels[identity] = min(
                    float(rate.requests), tokens + (now - stamp) * rate.per_second
                )
            wait = max((1 - tokens) / rate.per_second for tokens in levels.values())
            if wait <= 0 and len(self._buckets) >= _MAX_BUCKETS:
                self._prune(now, rate)
            for identity, tokens in levels.items():
                self._buckets[identity] = (tokens - 1 if wait <= 0 else tokens, now)
            return max(wait, 0.0)

    def _prune(self, now: float, rate: Rate) -> None:
        # Drop buckets that have refilled completely: forgetting them changes nothing.
        full = [
            k
            for k, (t, s) in self._buckets.items()
            if t + (now - s) * rate.per_second >= rate.requests
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= _MAX_BUCKETS:
            self._buckets.clear()

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


buckets = TokenBuckets()
# RequestToken's own buckets: another rate, so pruning one never judges the other's.
token_buckets = TokenBuckets()


def retry_after(identity: str) -> int | None:
    """None when the request may go ahead, else the whole seconds to wait (Retry-After)."""
    rate = parse_rate(settings.API_THROTTLE)
    if rate is None:
        return None
    wait = buckets.take(identity, rate)
    return max(1, math.ceil(wait)) if wait > 0 else None


def token_retry_after(api_key_id: int, address: str | None) -> int | None:
    """Like retry_after, for a RequestToken attempt: API_TOKEN_THROTTLE per key and, at the
    same time, per client address (several keys from one address share its allowance)."""
    rate = parse_rate(settings.API_TOKEN_THROTTLE, "API_TOKEN_THROTTLE")
    if rate is None:
        return None
    wait = token_buckets.take_all((f"key:{api_key_id}", f"address:{address}"), rate)
    return max(1, math.ceil(wait)) if wait > 0 else None
