"""What the shared throttle costs per Business API request, by store.

    .venv/bin/python bench/throttle.py [--requests 3000] [--rounds 5]
                                       [--database callportal_throttle_bench]
                                       [--redis redis://127.0.0.1:6379/0]

Recreates the PostgreSQL database given (it is dropped first!), migrates it, and sends
GetCallURL-by-callID requests through Django's full stack with the test client, one
process, `--requests` per variant and round, with API_THROTTLE at a rate no request
reaches, so every request is allowed and spends from its bucket. Variants: throttling off,
the `process` store (memory), the `database` store (one UPSERT), the `redis` store (one
Lua script on the given Redis, under a key prefix of its own). Prints the median µs per
request, the extra over "off", and the database queries per request. Loopback only.
"""

import argparse
import os
import statistics
import sys
import time
import uuid

from benchdb import ROOT, fill_calls, recreate, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", default="callportal_throttle_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    os.environ["API_THROTTLE"] = "off"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.chdir(ROOT)
    recreate(args.database)
    fill_calls(args.database, 1000, hot="8856", hot_every=5, days=1)
    setup_django(args.database)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from apikeys.services import create_api_key
    from calls.models import Call

    _, key = create_api_key("Bench")
    call_id = Call.objects.values_list("pk", flat=True)[0]
    url = f"/verba/api?action=GetCallURL&apiKey={key}&callID={call_id}"
    prefix = f"callportal-bench-{uuid.uuid4().hex}"
    redis_cache = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": args.redis,
            "KEY_PREFIX": prefix,
        }
    }
    never_reached = "100000000/day"
    variants = {
        "off": {"API_THROTTLE": "off"},
        "process store": {"API_THROTTLE": never_reached, "API_THROTTLE_STORE": "process"},
        "database store": {"API_THROTTLE": never_reached, "API_THROTTLE_STORE": "database"},
        "redis store": {
            "API_THROTTLE": never_reached,
            "API_THROTTLE_STORE": "redis",
            "CACHES": redis_cache,
        },
    }
    client = Client()
    results: dict[str, list[float]] = {name: [] for name in variants}
    queries: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, overrides in variants.items():
            with override_settings(**overrides):
                response = client.get(url)
                if response.status_code != 200 or b'code="0"' not in response.content:
                    raise SystemExit(f"{name}: unexpected answer {response.content!r}")
                with CaptureQueriesContext(connection) as captured:
                    client.get(url)
                queries[name] = len(captured)
                started = time.perf_counter()
                for _ in range(args.requests):
                    client.get(url)
                results[name].append((time.perf_counter() - started) / args.requests * 1e6)

    from django_redis import get_redis_connection

    with override_settings(CACHES=redis_cache):
        redis = get_redis_connection("default")
        for name in redis.scan_iter(f"{prefix}:*"):
            redis.delete(name)

    base = statistics.median(results["off"])
    print(f"{'throttle':16} {'µs/request':>11} {'extra µs':>9} {'queries':>8}")
    for name, runs in results.items():
        median = statistics.median(runs)
        print(f"{name:16} {median:11.0f} {median - base:9.0f} {queries[name]:8d}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
