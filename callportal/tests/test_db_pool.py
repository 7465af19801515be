"""Bounded database connections: on PostgreSQL every process takes its connections from a
pool of DB_POOL_SIZE, whatever the number of concurrent requests."""

import json
import threading
import time

import psycopg2
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from callportal.tests.test_database_down import forget_pool
from callportal.tests.test_settings import load_settings

SETTINGS_SHOWN = (
    "from django.conf import settings; import json; d = settings.DATABASES['default']; "
    "print(json.dumps([d['ENGINE'], d.get('POOL_OPTIONS', {}).get('POOL_SIZE'), "
    "d['CONN_MAX_AGE']]))"
)


def database_settings(**env: str) -> list:
    result = load_settings(SECRET_KEY="x" * 50, code=SETTINGS_SHOWN, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_connections_come_from_a_pool_of_five_per_process_by_default():
    shown = database_settings(DATABASE_URL="postgres://app@db.example:5432/callportal")
    assert shown == ["callportal.pooled_postgresql", 5, 0]


def test_the_pool_size_is_configurable_and_zero_turns_it_off():
    url = "postgres://app@db.example:5432/callportal"
    assert database_settings(DATABASE_URL=url, DB_POOL_SIZE="3")[:2] == [
        "callportal.pooled_postgresql",
        3,
    ]
    assert database_settings(DATABASE_URL=url, DB_POOL_SIZE="0", DB_CONN_MAX_AGE="30") == [
        "django.db.backends.postgresql",
        None,
        30,
    ]


class SessionCounter:
    """Samples this test database's PostgreSQL sessions from outside the pool."""

    def __init__(self) -> None:
        params = connection.get_connection_params()
        self._db = psycopg2.connect(**params)
        self._db.autocommit = True
        # Sessions already open belong to earlier tests (a live server's thread, say), not
        # to this process's pool, which the caller has emptied: they are not counted.
        with self._db.cursor() as cursor:
            cursor.execute(self._SESSIONS)
            self._others = [row[0] for row in cursor.fetchall()]
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    _SESSIONS = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def _run(self) -> None:
        with self._db.cursor() as cursor:
            while not self._stop.is_set():
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))",
                    [self._others],
                )
                self.peak = max(self.peak, cursor.fetchone()[0])
                self._stop.wait(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self._db.close()
        return self.peak


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_requests_share_the_pool_and_all_succeed(api_key):
    """Twelve clients at once against a pool of five: some wait for a connection, none
    fails, and PostgreSQL never sees more sessions than the pool holds."""
    postgresql = connection.vendor == "postgresql"
    connection.close()  # this thread's connection back to the pool too
    forget_pool(connection)  # and the pool empty, so every session it opens is counted
    counter = SessionCounter() if postgresql else None
    start = threading.Barrier(12)
    statuses: list[int] = []
    lock = threading.Lock()
    params = {"action": "GetCallURL", "apiKey": api_key[1], "callID": "x"}

    def client_thread():
        client = Client()
        try:
            start.wait()
            mine = [client.get("/verba/api", params).status_code for _ in range(5)]
            mine.append(client.get("/readyz").status_code)
            with lock:
                statuses.extend(mine)
        finally:
            connection.close()

    threads = [threading.Thread(target=client_thread) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 72
    if counter is not None:
        assert counter.stop() <= settings.DATABASES["default"]["POOL_OPTIONS"]["POOL_SIZE"]


# --- First come, first served (issue 19, item 3) --------------------------------------------


class _Connection:
    """A stand-in database connection: the pool's order is the subject, not PostgreSQL."""

    def close(self) -> None:
        pass

    def rollback(self) -> None:
        pass


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.001)


def test_a_freed_connection_goes_to_the_request_that_waited_longest_not_to_its_last_holder():
    from callportal.pooled_postgresql.fifo import FifoQueuePool

    pool = FifoQueuePool(_Connection, pool_size=1, max_overflow=0, timeout=10)
    served = []
    held = pool.connect()

    def request(name: str) -> None:
        connection = pool.connect()
        served.append(name)
        connection.close()

    waiting = []
    for name in ("first", "second", "third"):
        thread = threading.Thread(target=request, args=(name,))
        thread.start()
        waiting.append(thread)
        count = len(waiting)
        _wait_for(lambda count=count: pool.waiting == count, f"{name} waits")
    # The holder gives its connection back and at once asks again (the next statement of a
    # request, the audit writer, a keep-alive client): it is running, the waiters are not.
    held.close()
    again = pool.connect()
    served.append("holder again")
    again.close()
    for thread in waiting:
        thread.join(timeout=10)

    assert served == ["first", "second", "third", "holder again"]


def test_a_request_that_waits_out_the_pool_timeout_gets_the_pools_timeout_and_leaves_the_line():
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from callportal.pooled_postgresql.fifo import FifoQueuePool

    pool = FifoQueuePool(_Connection, pool_size=1, max_overflow=0, timeout=0.05)
    held = pool.connect()

    with pytest.raises(PoolTimeout):
        pool.connect()

    assert pool.waiting == 0
    held.close()
    pool.connect().close()  # the permit it gave up is there for the next one
