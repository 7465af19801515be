"""Rate limiting of the Business API: API_THROTTLE requests per period, per client identity,
and API_TOKEN_THROTTLE RequestToken attempts per key and per client address.

A token bucket per identity: it allows bursts up to the rate and refills steadily. The
bucket lives where API_THROTTLE_STORE says, so that one allowance holds across every worker
process and every app server (docs/deployment.md):

- `database` (the default): a row per identity in `verba_throttlebucket` (UNLOGGED on
  PostgreSQL), refilled and spent by one atomic UPSERT. Never more than the allowance,
  across servers. The Business API sends the UPSERT inside the statement that looks the
  key up (`spend_read`, `shared.sql.run_anchored`): on PostgreSQL it costs no statement and
  no round trip of its own. A stored key spends in leases (`Leases`): one UPSERT takes 1 %
  of its allowance for the process's next requests, so most requests write nothing and
  don't queue on the bucket's row lock.
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
from shared.sql import Ran, Read, VendorSql, run

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
# (3.35+ for RETURNING); `{whole}` rounds a non-negative number down.
#
# The identity is the stored key's ("key:<id>") when the digest of a presented key is
# found, else the fallback (the client address's): the key's row is read here, by its
# unique digest, so that the spend needs nothing from the statement it travels in.
#
# A spend asks for a lease of several requests when the identity is a stored key (`Leases`)
# and for one otherwise, and hands back what this process's last lease of it left unused.
# It is granted what the bucket holds, up to what it asked for (0: refused), and RETURNs
# how many, with the tokens left.
#
# Parameters: capacity, now, fallback identity, lease, key digest (or None), then
# (capacity, handed back, now, rate) for each of the three refill expressions, then now.
_REFILLED = "{least}(%s, b.tokens + %s + {greatest}(0, %s - b.stamp) * %s)"


def _upsert_sql(connection: BaseDatabaseWrapper) -> str:
    # Built from quoted model names and constants only; every value is a parameter.
    qn = connection.ops.quote_name
    postgresql = connection.vendor == "postgresql"
    least, greatest = ("LEAST", "GREATEST") if postgresql else ("MIN", "MAX")
    refilled = _REFILLED.format(least=least, greatest=greatest)
    whole = f"FLOOR({refilled})" if postgresql else f"CAST({refilled} AS INTEGER)"
    granted = f"{least}(EXCLUDED.granted, {whole})"
    key_table, digest = qn(ApiKey._meta.db_table), qn("key_digest")
    # (SELECT 1) LEFT JOIN the key: one row whether the digest is stored or not. The casts
    # type the prepared statement's parameters; SQLite needs the WHERE on an INSERT …
    # SELECT … ON CONFLICT, else it reads ON CONFLICT as the join's ON.
    asked = (
        "SELECT COALESCE(k.identity, %s) AS identity, COALESCE(k.lease, 1) AS lease"
        " FROM (SELECT 1 AS one) o LEFT JOIN"
        f" (SELECT 'key:' || {qn('id')} AS identity, CAST(%s AS INTEGER) AS lease"
        f" FROM {key_table} WHERE {digest} = %s) k ON 1 = 1"
    )
    return (
        "INSERT INTO verba_throttlebucket AS b (identity, tokens, stamp, granted)"
        " SELECT a.identity, CAST(%s AS DOUBLE PRECISION) - a.lease,"
        f" CAST(%s AS DOUBLE PRECISION), a.lease FROM ({asked}) a WHERE 1 = 1"
        " ON CONFLICT (identity) DO UPDATE SET"
        f" tokens = {refilled} - {granted},"
        f" granted = {granted},"
        f" stamp = {greatest}(b.stamp, %s)"
        " RETURNING tokens, granted"
    )


# Prepared like the lookups it travels with: its plan (the key's digest index, the
# bucket's primary key) does not depend on the values.
_SPEND = VendorSql(_upsert_sql, "verba_throttlebucket_spend", prepare=True)
_PRUNE = "DELETE FROM verba_throttlebucket WHERE stamp < %s"
# Forget buckets untouched for longer than this many refill periods (they are full again).
_PRUNE_EVERY_SECONDS = 300.0

# A lease is this share of the bucket (1 %), rounded down, and at most LEASE_MAX requests:
# a bucket under 200 requests leases none, and every spend of its key is one request,
# exact. The shipped 600/min leases 6.
LEASE_SHARE = 0.01
# So that even a huge allowance spends in the database every so often (1 in 100 requests).
LEASE_MAX = 100
# A lease not used up within this long is handed back with the process's next spend for
# its key, so that a key the load balancer moved elsewhere gets its requests back soon.
LEASE_SECONDS = 1.0


class Leases:
    """Requests of a key's bucket that this process has spent in advance, by key digest.

    The shared bucket is only ever spent from, never overdrawn: a lease is a spend of
    several requests at once, so the store still allows at most the bucket's size plus its
    refill across every process and server. What a lease costs is the other way round: a
    client may be refused while requests it did not use sit in other processes' leases, at
    most `lease - 1` per process, for at most LEASE_SECONDS after that process's last
    request of the key (docs/decisions.md).
    """

    def __init__(self) -> None:
        self._left: dict[str, tuple[int, float]] = {}  # digest → (requests, until)
        self._lock = threading.Lock()

    def take_one(self, digest: str) -> bool:
        """Spend one request from this process's lease of the key, if it holds one."""
        now = time.monotonic()
        with self._lock:
            left, until = self._left.get(digest, (0, 0.0))
            if left < 1 or now >= until:
                return False
            self._left[digest] = (left - 1, until)
            return True

    def hand_back(self, digest: str) -> int:
        """What the key's lease has left, no longer held (sent back with the next spend)."""
        with self._lock:
            left, _ = self._left.pop(digest, (0, 0.0))
            return left

    def keep(self, digest: str, requests: int) -> None:
        """Hold `requests` more of the key's bucket for this process's next requests."""
        if requests < 1:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._left) >= _MAX_BUCKETS:
                self._left = {d: v for d, v in self._left.items() if v[1] > now}
                if len(self._left) >= _MAX_BUCKETS:
                    return
            # Two greenlets may have spent at once: what both were granted is held.
            left, _ = self._left.get(digest, (0, 0.0))
            self._left[digest] = (left + requests, now + LEASE_SECONDS)

    def clear(self) -> None:
        with self._lock:
            self._left.clear()


def lease_size(rate: Rate) -> int:
    return max(1, min(LEASE_MAX, int(rate.requests * LEASE_SHARE)))


class DatabaseBuckets:
    """The `database` store: one UPSERT per spend in the default database, alone (`take`)
    or inside another statement (`spend_read`); a stored key's requests spend in leases."""

    def __init__(self) -> None:
        self._next_prune = 0.0
        self._lock = threading.Lock()
        self.leases = Leases()

    def spend_read(self, key_digest: str | None, fallback: str, rate: Rate) -> Read[float]:
        """Spending from the bucket of the key with this digest (when it is stored) or else
        of `fallback`, as a read; its answer is `take`'s. For a stored key it spends a
        lease, whose rest serves this process's next requests of that key."""
        now = time.time()
        capacity = float(rate.requests)
        # The statement grants the lease only when the digest is a stored key's.
        handed_back = self.leases.hand_back(key_digest) if key_digest else 0
        refill = (capacity, handed_back, now, rate.per_second)
        lease = lease_size(rate)
        params = (capacity, now, fallback, lease, key_digest, *refill, *refill, *refill, now)
        return Read(_SPEND, params, partial(self._spent, key_digest, now, rate))

    def take(self, identity: str, rate: Rate) -> float:
        return run(connection, self.spend_read(None, identity, rate))

    def _spent(
        self, key_digest: str | None, now: float, rate: Rate, rows: list[tuple[Any, ...]]
    ) -> float:
        ((tokens, granted),) = rows
        self._prune_now_and_then(now, rate)
        if not granted:
            return _wait(tokens, rate)
        if key_digest:
            self.leases.keep(key_digest, int(granted) - 1)
        return 0.0

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
        self.leases.clear()


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


def spend_read(key_digest: str | None, address: str | None) -> Read[float] | Ran[float] | None:
    """With the `database` store, the request's spend as a read that travels in the
    statement looking its key up (`shared.sql.run_anchored`): from the bucket of the stored
    key whose digest is `key_digest`, else of the client address (the identities
    `retry_after` is given). Its answer goes to `retry_after_spent`. `Ran(0.0)` when the
    request was spent from this process's lease of the key: allowed, no statement. None
    when throttling is off or the buckets live elsewhere: then `retry_after` spends, after
    the lookup.
    """
    rate = parse_rate(settings.API_THROTTLE)
    if rate is None or store() is not database_buckets:
        return None
    if key_digest and database_buckets.leases.take_one(key_digest):
        return Ran(0.0)
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
