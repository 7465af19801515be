"""Rate limiting of the Business API: API_THROTTLE requests per period, per client identity,
and API_TOKEN_THROTTLE RequestToken attempts per key and per client address.

A token bucket per identity: it allows bursts up to the rate and refills steadily. The
bucket lives where API_THROTTLE_STORE says, so that one allowance holds across every worker
process and every app server (docs/deployment.md):

- `database` (the default): a row per identity in `verba_throttlebucket` (UNLOGGED on
  PostgreSQL), refilled and spent by one atomic UPSERT per request. Exact across servers.
  The Business API sends it inside the statement that looks the key up (`spend_read`,
  `shared.sql.run_anchored`): on PostgreSQL it costs no statement and no round trip of its
  own, only the UPSERT's work in the database.
- `redis` (the default when REDIS_URL is set): the same bucket as a Redis hash, refilled
  and spent by one Lua script per request, with an expiry so idle identities vanish.
- `process`: in memory, per process. Costs no round trip, but each worker process allows
  the full rate: for a single-process setup, test rigs and benchmarks only.

Buckets are refilled on the app servers' wall clock (time.time), which NTP keeps within
milliseconds between servers; a clock that steps back refills nothing until it catches up.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from redis.exceptions import RedisError

from apikeys.models import ApiKey
from shared.sql import Read, VendorSql, run

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_PERIODS.update({"h": 3600, "hour": 3600, "d": 86400, "day": 86400})
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
_MAX_BUCKETS = 100_000
STORES = ("database", "redis", "process")


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def refill_seconds(self) -> float:
        """How long an empty bucket takes to fill up again."""
        return float(self.seconds)


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


class Store(Protocol):
    def take(self, identity: str, rate: Rate) -> float:
        """Spend one request; 0 when allowed, else the seconds until one is allowed."""

    def clear(self) -> None:
        """Forget what this process remembers of the buckets."""


def _wait(tokens: float, rate: Rate) -> float:
    return (1 - tokens) / rate.per_second


class TokenBuckets:
    """The `process` store: buckets in this process's memory."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # identity → (tokens, stamp)
        self._lock = threading.Lock()

    def take(self, identity: str, rate: Rate) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(identity, (float(rate.requests), now))
            tokens = min(float(rate.requests), tokens + (now - stamp) * rate.per_second)
            if tokens >= 1:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._prune(now, rate)
                self._buckets[identity] = (tokens - 1, now)
                return 0.0
            self._buckets[identity] = (tokens, now)
            return _wait(tokens, rate)

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


# Refill and spend in one statement: every right-hand side sees the row as it was, so
# concurrent requests for one identity queue on the row lock and each sees the previous
# one's result. `{least}`/`{greatest}` are LEAST/GREATEST on PostgreSQL, MIN/MAX on SQLite
# (3.35+ for RETURNING).
#
# The identity is the stored key's ("key:<id>") when the digest of a presented key is
# found, else the fallback (the client address's): the key's row is read here, by its
# unique digest, so that the spend needs nothing from the statement it travels in.
#
# Parameters: key digest (or None), fallback identity, capacity - 1, now, then (capacity,
# now, rate) for each of the three refill expressions, then now.
_REFILLED = "{least}(%s, b.tokens + {greatest}(0, %s - b.stamp) * %s)"


def _upsert_sql(connection: BaseDatabaseWrapper) -> str:
    # Built from quoted model names and constants only; every value is a parameter.
    qn = connection.ops.quote_name
    postgresql = connection.vendor == "postgresql"
    least, greatest = ("LEAST", "GREATEST") if postgresql else ("MIN", "MAX")
    refilled = _REFILLED.format(least=least, greatest=greatest)
    key_table, digest = qn(ApiKey._meta.db_table), qn("key_digest")
    identity = (
        f"COALESCE((SELECT 'key:' || k.{qn('id')} FROM {key_table} k WHERE k.{digest} = %s), %s)"
    )
    return (
        "INSERT INTO verba_throttlebucket AS b (identity, tokens, stamp, allowed)"
        f" VALUES ({identity}, %s, %s, TRUE)"
        " ON CONFLICT (identity) DO UPDATE SET"
        f" tokens = {refilled} - CASE WHEN {refilled} >= 1 THEN 1 ELSE 0 END,"
        f" allowed = {refilled} >= 1,"
        f" stamp = {greatest}(b.stamp, %s)"
        " RETURNING tokens, allowed"
    )


# Prepared like the lookups it travels with: its plan (the key's digest index, the
# bucket's primary key) does not depend on the values.
_SPEND = VendorSql(_upsert_sql, "verba_throttlebucket_spend", prepare=True)
_PRUNE = "DELETE FROM verba_throttlebucket WHERE stamp < %s"
# Forget buckets untouched for longer than this many refill periods (they are full again).
_PRUNE_EVERY_SECONDS = 300.0


class DatabaseBuckets:
    """The `database` store: one UPSERT per request in the default database, alone
    (`take`) or inside another statement (`spend_read`)."""

    def __init__(self) -> None:
        self._next_prune = 0.0
        self._lock = threading.Lock()

    def spend_read(self, key_digest: str | None, fallback: str, rate: Rate) -> Read[float]:
        """Spending one request from the bucket of the key with this digest (when it is
        stored) or else of `fallback`, as a read; its answer is `take`'s."""
        now = time.time()
        capacity = float(rate.requests)
        refill = (capacity, now, rate.per_second)
        params = (key_digest, fallback, capacity - 1, now, *refill, *refill, *refill, now)
        return Read(_SPEND, params, partial(self._spent, now, rate))

    def take(self, identity: str, rate: Rate) -> float:
        return run(connection, self.spend_read(None, identity, rate))

    def _spent(self, now: float, rate: Rate, rows: list[tuple[Any, ...]]) -> float:
        ((tokens, allowed),) = rows
        self._prune_now_and_then(now, rate)
        return 0.0 if allowed else _wait(tokens, rate)

    def _prune_now_and_then(self, now: float, rate: Rate) -> None:
        # A bucket untouched for a whole refill period is full: deleting it changes nothing.
        # Done by whichever request comes along every few minutes, per process.
        with self._lock:
            if now < self._next_prune:
                return
            self._next_prune = now + _PRUNE_EVERY_SECONDS
        with connection.cursor() as cursor:
            cursor.execute(_PRUNE, [now - rate.refill_seconds])

    def clear(self) -> None:
        self._next_prune = 0.0


# KEYS[1]: the bucket; ARGV: capacity, refill per second, now (s), expiry (ms).
# Returns {allowed (0/1), tokens as text} (Lua numbers would come back truncated).
_REDIS_TAKE = """
local b = redis.call('HMGET', KEYS[1], 't', 's')
local capacity, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(b[1]) or capacity
local stamp = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(math.max(stamp, now)))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, tostring(tokens)}
"""


class RedisBuckets:
    """The `redis` store: one Lua script call per request on the `default` cache's Redis."""

    def __init__(self) -> None:
        self._script = None
        self._client = None
        # After a failure Redis is left alone until then (time.monotonic): a dead Redis
        # would log a warning per request, a hung one add its timeout to every request.
        self._away_until = 0.0

    def take(self, identity: str, rate: Rate) -> float:
        if time.monotonic() < self._away_until:
            return 0.0  # backing off: unthrottled, as while Redis fails
        from django.core.cache import caches

        cache = caches["default"]
        key = cache.make_key(f"throttle:{identity}")
        script = self._script_for(cache)
        expiry_ms = int(rate.refill_seconds * 1000) + 1000
        try:
            allowed, tokens = script(
                keys=[key], args=[rate.requests, rate.per_second, time.time(), expiry_ms]
            )
        except RedisError as error:
            # Fail open: a Redis outage must not take the whole API down with it; requests
            # go unthrottled (and say so in the log, once per back-off) for
            # REDIS_BACKOFF_SECONDS, then the next request asks Redis again.
            backoff = settings.REDIS_BACKOFF_SECONDS
            self._away_until = time.monotonic() + backoff
            logger.warning(
                "throttle: Redis unavailable (%s); not throttling for the next %g s",
                type(error).__name__,
                backoff,
            )
            self.clear()
            return 0.0
        return 0.0 if int(allowed) else _wait(float(tokens), rate)

    def _script_for(self, cache: Any) -> Any:  # django-redis's cache, redis-py's Script
        client = cache.client.get_client(write=True)
        if self._client is not client:
            # register_script sends EVALSHA and falls back to EVAL once after a Redis restart.
            self._script = client.register_script(_REDIS_TAKE)
            self._client = client
        return self._script

    def clear(self) -> None:
        self._script = None
        self._client = None

    def forget_failures(self) -> None:
        """Ask Redis again at the next request (tests)."""
        self._away_until = 0.0


buckets = TokenBuckets()
database_buckets = DatabaseBuckets()
_stores: dict[str, Store] = {
    "database": database_buckets,
    "redis": RedisBuckets(),
    "process": buckets,
}


def store() -> Store:
    name = settings.API_THROTTLE_STORE
    try:
        return _stores[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"API_THROTTLE_STORE must be one of {', '.join(STORES)}, not {name!r}."
        ) from None


def retry_after(identity: str) -> int | None:
    """None when the request may go ahead, else the whole seconds to wait (Retry-After)."""
    rate = parse_rate(settings.API_THROTTLE)
    if rate is None:
        return None
    return _whole_seconds(store().take(identity, rate))


def spend_read(key_digest: str | None, address: str | None) -> Read[float] | None:
    """With the `database` store, the request's spend as a read that travels in the
    statement looking its key up (`shared.sql.run_anchored`): from the bucket of the stored
    key whose digest is `key_digest`, else of the client address (the identities
    `retry_after` is given). None when throttling is off or the buckets live elsewhere:
    then `retry_after` spends, after the lookup. Its answer goes to `retry_after_spent`.
    """
    rate = parse_rate(settings.API_THROTTLE)
    if rate is None or store() is not database_buckets:
        return None
    return database_buckets.spend_read(key_digest, f"address:{address}", rate)


def retry_after_spent(wait: float) -> int | None:
    """`retry_after`'s answer for a spend that `spend_read` made."""
    return _whole_seconds(wait)


def _whole_seconds(wait: float) -> int | None:
    return max(1, math.ceil(wait)) if wait > 0 else None


def token_retry_after(api_key_id: int, address: str | None) -> int | None:
    """Like retry_after, for a RequestToken attempt: API_TOKEN_THROTTLE per key and per
    client address (several keys from one address share its allowance), in the same store.
    The key is only charged when the address has room."""
    rate = parse_rate(settings.API_TOKEN_THROTTLE, "API_TOKEN_THROTTLE")
    if rate is None:
        return None
    buckets_store = store()
    wait = buckets_store.take(f"token-address:{address}", rate)
    if wait <= 0:
        wait = buckets_store.take(f"token-key:{api_key_id}", rate)
    return _whole_seconds(wait)


def forget_everything() -> None:
    """Drop what this process remembers (its in-memory buckets, its prune schedule)."""
    for each in _stores.values():
        each.clear()
