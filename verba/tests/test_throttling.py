"""Throttling (code 7, HTTP 429, Retry-After), keyed per key or per client address.

The behaviour tests run against each shared store: the database (default) and Redis
(REDIS_URL; the local redis-server, under a key prefix of the test's own).
"""

import os
import socket
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apikeys.services import create_api_key
from verba.throttling import Rate, parse_rate

pytestmark = pytest.mark.django_db

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_cache(location: str, prefix: str) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }


@pytest.fixture(params=["database", "redis"])
def store(request, settings):
    """Each shared store in turn; Redis keys carry a prefix no other test run uses."""
    settings.API_THROTTLE_STORE = request.param
    if request.param == "redis":
        prefix = f"callportal-test-{uuid.uuid4().hex}"
        settings.CACHES = _redis_cache(TEST_REDIS_URL, prefix)
        yield request.param
        from django_redis import get_redis_connection

        redis = get_redis_connection("default")
        for name in redis.scan_iter(f"{prefix}:*"):
            redis.delete(name)
    else:
        yield request.param


def _status(response) -> tuple[int, int]:
    code = int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])
    return response.status_code, code


def test_requests_beyond_the_rate_get_429_and_code_7(api, key, settings, store):
    settings.API_THROTTLE = "3/min"
    results = [_status(api(action="GetCallURL", apiKey=key)) for _ in range(4)]
    assert results == [(200, 1)] * 3 + [(429, 7)]


def test_retry_after_says_when_the_next_request_is_allowed(api, key, settings, store):
    settings.API_THROTTLE = "2/min"
    for _ in range(2):
        api(action="GetCallURL", apiKey=key)
    response = api(action="GetCallURL", apiKey=key)
    assert response["Retry-After"] == "30"


def test_the_rate_refills_over_time(api, key, settings, store):
    settings.API_THROTTLE = "1/sec"
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 429
    with time_machine.travel(start, tick=False) as traveller:
        traveller.shift(1.1)
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 200


def test_each_key_has_its_own_allowance(api, key, settings, store):
    settings.API_THROTTLE = "1/min"
    _, other = create_api_key("Other")
    assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
    assert _status(api(action="GetCallURL", apiKey=other))[0] == 200
    assert _status(api(action="GetCallURL", apiKey=key))[0] == 429


def test_one_key_is_one_allowance_across_client_addresses(client, key, settings, store):
    settings.API_THROTTLE = "1/min"
    params = {"action": "GetCallURL", "apiKey": key}
    assert client.get("/verba/api", params, REMOTE_ADDR="192.0.2.1").status_code == 200
    assert client.get("/verba/api", params, REMOTE_ADDR="192.0.2.2").status_code == 429


def test_unknown_keys_share_the_allowance_of_their_client_address(client, settings, store):
    settings.API_THROTTLE = "2/min"

    def guess(address):
        params = {"action": "GetCallURL", "apiKey": str(uuid.uuid4())}
        return client.get("/verba/api", params, REMOTE_ADDR=address).status_code

    assert [guess("192.0.2.1") for _ in range(3)] == [200, 200, 429]
    assert guess("192.0.2.2") == 200


def test_an_allowance_is_not_held_in_the_process(api, key, settings, store):
    """What another worker process or app server sees: nothing of this process's memory."""
    from verba.throttling import forget_everything

    settings.API_THROTTLE = "2/day"
    assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
    forget_everything()
    assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
    forget_everything()
    assert _status(api(action="GetCallURL", apiKey=key)) == (429, 7)


def _from_threads(key: str, threads: int, each: int) -> list[int]:
    """The statuses of `each` requests from each of `threads` threads started at once (each
    its own database connection)."""
    from django.db import connection
    from django.test import Client

    start = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()

    def client_thread():
        client = Client()
        try:
            start.wait()
            mine = [
                client.get("/verba/api", {"action": "GetCallURL", "apiKey": key}).status_code
                for _ in range(each)
            ]
            with lock:
                statuses.extend(mine)
        finally:
            connection.close()

    started = [threading.Thread(target=client_thread) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return statuses


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_get_exactly_the_allowance(key, settings, store):
    """Requests from many threads at once (each its own database connection) share one
    bucket: no lost updates, exactly the rate is allowed."""
    settings.API_THROTTLE = "20/day"
    assert sorted(_from_threads(key, threads=8, each=10)) == [200] * 20 + [429] * 60


# --- leases: a stored key's spends several requests at a time (database store) ----------


@pytest.fixture
def spends(monkeypatch) -> list[str]:
    """The spends sent to the database: one entry each."""
    from verba import throttling

    sent: list[str] = []
    spend_read = throttling.database_buckets.spend_read

    def counted(key_digest, fallback, rate):
        sent.append(fallback)
        return spend_read(key_digest, fallback, rate)

    monkeypatch.setattr(throttling.database_buckets, "spend_read", counted)
    return sent


@contextmanager
def _process(leases):
    """Requests served by another worker process: its own leases, the same database."""
    from verba import throttling

    mine = throttling.database_buckets.leases
    throttling.database_buckets.leases = leases
    try:
        yield
    finally:
        throttling.database_buckets.leases = mine


def test_a_large_allowance_is_spent_a_lease_at_a_time_without_a_write_per_request(
    api, key, settings, spends
):
    settings.API_THROTTLE = "1000/min"  # leases of 10
    with time_machine.travel(timezone.now(), tick=False):  # no lease runs out meanwhile
        statuses = {api(action="GetCallURL", apiKey=key).status_code for _ in range(25)}
    assert statuses == {200}
    assert len(spends) == 3  # with requests 1, 11 and 21


def test_small_allowances_are_spent_one_request_at_a_time(api, key, settings, spends):
    settings.API_THROTTLE = "199/min"  # 1 % is less than two requests: no lease
    for _ in range(5):
        api(action="GetCallURL", apiKey=key)
    assert len(spends) == 5


def test_leases_of_several_processes_never_allow_more_than_the_allowance(api, key, settings):
    from verba.throttling import Leases

    settings.API_THROTTLE = "300/day"  # leases of 3
    processes = [Leases() for _ in range(3)]
    statuses = []
    with time_machine.travel(timezone.now(), tick=False):
        for n in range(400):
            with _process(processes[n % 3]):
                statuses.append(_status(api(action="GetCallURL", apiKey=key))[0])
    # Once the bucket is empty, a process may still serve what its lease holds.
    assert statuses.count(200) == 300


def test_a_lease_held_by_another_process_is_the_most_a_client_is_refused_early(api, key, settings):
    """The error bound: up to lease - 1 requests per other process, handed back with that
    process's next spend once LEASE_SECONDS have passed. Never more than the allowance."""
    from verba.throttling import LEASE_SECONDS, Leases

    settings.API_THROTTLE = "300/day"  # leases of 3; refilling one takes 288 s
    idle, busy = Leases(), Leases()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        with _process(idle):
            assert _status(api(action="GetCallURL", apiKey=key))[0] == 200  # holds 2 more
        with _process(busy):
            allowed = [_status(api(action="GetCallURL", apiKey=key))[0] for _ in range(300)]
        assert allowed.count(200) == 297
        traveller.shift(LEASE_SECONDS)
        with _process(idle):
            # Its lease is over: its next spend hands the 2 back to the empty bucket, and
            # is granted them again (one for this request, one held).
            assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
        with _process(busy):
            assert _status(api(action="GetCallURL", apiKey=key))[0] == 429
        with _process(idle):
            assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
            assert _status(api(action="GetCallURL", apiKey=key))[0] == 429


def test_a_refused_spend_leaves_no_lease(api, key, settings):
    settings.API_THROTTLE = "200/min"  # leases of 2
    with time_machine.travel(timezone.now(), tick=False):
        statuses = [_status(api(action="GetCallURL", apiKey=key))[0] for _ in range(203)]
    assert statuses == [200] * 200 + [429] * 3


def test_a_huge_allowance_still_spends_in_the_database_every_hundred_requests(
    api, key, settings, spends
):
    settings.API_THROTTLE = "1000000/min"  # 1 % would be 10,000
    with time_machine.travel(timezone.now(), tick=False):  # no lease runs out meanwhile
        for _ in range(201):
            api(action="GetCallURL", apiKey=key)
    assert len(spends) == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_spending_leases_never_exceed_the_allowance(key, settings):
    settings.API_THROTTLE = "400/day"  # leases of 4
    statuses = _from_threads(key, threads=8, each=60)
    # Never more than the allowance; fewer only by what a lease still holds at the end.
    assert 400 - 8 * 3 <= statuses.count(200) <= 400
    assert statuses.count(200) + statuses.count(429) == 480


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_requests_go_unthrottled_while_redis_is_away(api, key, settings, caplog):
    settings.API_THROTTLE = "1/day"
    settings.API_THROTTLE_STORE = "redis"
    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{_closed_port()}/0", "callportal-test")
    statuses = {_status(api(action="GetCallURL", apiKey=key)) for _ in range(3)}
    assert statuses == {(200, 1)}
    assert "Redis unavailable" in caplog.text


@pytest.fixture
def redis_away(settings):
    """The Redis store on a port where nothing listens; failures forgotten before and after."""
    from verba import throttling

    settings.API_THROTTLE_STORE = "redis"
    settings.CACHES = _redis_cache(f"redis://127.0.0.1:{_closed_port()}/0", "callportal-test")
    redis_store = throttling._stores["redis"]
    redis_store.forget_failures()
    yield redis_store
    redis_store.forget_failures()


def test_after_a_redis_failure_redis_is_left_alone_for_the_back_off_and_logged_once(
    api, key, settings, caplog, redis_away, monkeypatch
):
    settings.REDIS_BACKOFF_SECONDS = 600
    asked = []
    script_for = redis_away._script_for

    def counted(cache):
        asked.append(1)
        return script_for(cache)

    monkeypatch.setattr(redis_away, "_script_for", counted)

    statuses = {_status(api(action="GetCallURL", apiKey=key)) for _ in range(20)}

    assert statuses == {(200, 1)}
    assert len(asked) == 1
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_once_the_back_off_is_over_redis_is_asked_again(
    api, key, settings, caplog, redis_away, monkeypatch
):
    settings.REDIS_BACKOFF_SECONDS = 600
    api(action="GetCallURL", apiKey=key)
    with time_machine.travel(timezone.now() + timedelta(seconds=601), tick=False):
        # time.monotonic follows the travel too.
        api(action="GetCallURL", apiKey=key)

    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 2


def test_the_database_store_forgets_buckets_that_have_refilled(api, key, settings):
    from apikeys.models import ApiKey
    from verba.models import ThrottleBucket

    settings.API_THROTTLE = "60/min"
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        api(action="GetCallURL", apiKey=str(uuid.uuid4()))  # a guess: a bucket per address
        assert ThrottleBucket.objects.count() == 1
        traveller.shift(600)
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
    assert list(ThrottleBucket.objects.values_list("identity", flat=True)) == [
        f"key:{ApiKey.objects.get().pk}"
    ]


def test_off_switches_throttling_off(api, key, settings):
    settings.API_THROTTLE = "off"
    assert {api(action="GetCallURL", apiKey=key).status_code for _ in range(50)} == {200}


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("600/min", Rate(600, 60)),
        ("10/sec", Rate(10, 1)),
        ("5 / hour", Rate(5, 3600)),
        ("1/day", Rate(1, 86400)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates_are_read_from_the_setting(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "10/fortnight", "0/min", "-1/min", "10"])
def test_a_bad_rate_is_a_configuration_error_that_says_what_to_write(text):
    with pytest.raises(ImproperlyConfigured, match="600/min"):
        parse_rate(text)


@pytest.mark.parametrize(("store", "error"), [("memcached", "verba.E002"), ("redis", "verba.E003")])
def test_a_bad_throttle_store_is_reported_by_the_system_checks(settings, store, error):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.API_THROTTLE_STORE = store
    with pytest.raises(SystemCheckError, match=error):
        call_command("check")


def test_a_bad_rate_is_reported_by_the_system_checks(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.API_THROTTLE = "lots"
    with pytest.raises(SystemCheckError, match=r"verba\.E001"):
        call_command("check")
