"""`GetCallURL` with `status=next` over real HTTP: the long poll as a client sees it.

Most requests go to pytest-django's live server (a threaded HTTP server in this process),
so a waiting `next` request really occupies a server thread while other requests come in.
The last test starts the README's own server (gunicorn with gunicorn.conf.py) on a SQLite
file of its own, and writes the call from yet another process. Capacity and release
times under load are measured by bench/longpoll.py, not here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db import connections
from django.utils import timezone

from apikeys.services import create_api_key
from calls.models import Call
from calls.tests.factories import CallFactory
from longpoll import watcher as longpoll
from longpoll.clock import ManualClock

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "8856"


@pytest.fixture(autouse=True)
def short_window(settings):
    settings.NEXT_WINDOW_SECONDS = 3.0
    settings.NEXT_GRACE_SECONDS = 1.0
    settings.API_THROTTLE = "off"
    yield
    assert longpoll.wait_until_idle(timeout=5), "the watcher thread kept running"


@pytest.fixture
def ingest_key() -> str:
    return create_api_key("PBX connector", can_ingest=True, can_query=False)[1]


def get(url: str, timeout: float = 15) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - test server
        return response.status, response.read().decode()


def api_url(server: str, key: str, **params: str) -> str:
    query = {"action": "GetCallURL", "apiKey": key, "responseType": "TEXT", **params}
    return f"{server}/verba/api?{urllib.parse.urlencode(query)}"


class NextRequest:
    """A `status=next` request sent from its own thread, like one waiting client."""

    def __init__(self, server: str, key: str, extension: str = NUMBER) -> None:
        self.url = api_url(server, key, extension=extension, status="next")
        self.answer: tuple[int, str] | None = None
        self.answered_at: float | None = None
        self.answered_wall = 0.0  # wall clock, to compare with a write in another process
        self.sent_at = time.monotonic()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def _send(self) -> None:
        try:
            self.answer = get(self.url)
        finally:
            self.answered_wall = time.time()
            self.answered_at = time.monotonic()

    @property
    def waiting(self) -> bool:
        return self.answered_at is None

    def join(self) -> tuple[int, str]:
        self._thread.join(15)
        assert self.answer is not None, "the next request got no answer"
        return self.answer


@pytest.fixture
def clock(monkeypatch) -> ManualClock:
    """The long poll's clock, moved on by the test: a window closes without waiting it out."""
    manual = ManualClock()
    monkeypatch.setattr(longpoll, "clock", manual)
    return manual


def wait_until_parked(count: int = 1) -> None:
    """Until `count` next requests are waiting in the long poll (past their first look)."""
    deadline = time.monotonic() + 5
    while longpoll.waiting_count() < count:
        assert time.monotonic() < deadline, "the next request never started waiting"
        time.sleep(0.01)
    time.sleep(0.05)


def post_call(server: str, ingest_key: str, **fields: str) -> tuple[int, dict]:
    body = {
        "caller_number": "+442071234567",
        "called_number": NUMBER,
        "started_at": timezone.now().isoformat(),
        **fields,
    }
    request = urllib.request.Request(  # noqa: S310 - test server
        f"{server}/api/v1/calls",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Api-Key": ingest_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - test server
        return response.status, json.loads(response.read())


def call_url(server: str, call_id: object) -> str:
    return f"{server}/verba/gwtCallDetail.do?ccdrId={call_id}\n"


def test_a_next_request_is_released_within_a_second_of_a_call_posted_to_the_ingestion_api(
    live_server, api_key, ingest_key
):
    waiting = NextRequest(live_server.url, api_key[1])
    wait_until_parked()

    status, body = post_call(live_server.url, ingest_key)
    written_at = time.monotonic()

    assert status == 201
    assert waiting.join() == (200, call_url(live_server.url, body["id"]))
    assert waiting.answered_at - written_at < 1.0


def test_a_next_request_is_released_within_a_second_of_a_call_written_by_another_process(
    live_server, api_key
):
    waiting = NextRequest(live_server.url, api_key[1])
    wait_until_parked()

    # A plain insert, as an import or another app server would write it: no announce.
    call = CallFactory(called_number=NUMBER, started_at=timezone.now(), ended_at=None)
    written_at = time.monotonic()

    assert waiting.join() == (200, call_url(live_server.url, call.pk))
    assert waiting.answered_at - written_at < 1.0


def test_another_request_is_served_while_next_requests_wait(live_server, api_key, clock):
    finished = CallFactory(called_number="5000")
    waitings = [NextRequest(live_server.url, api_key[1]) for _ in range(5)]
    wait_until_parked(count=5)

    asked_at = time.monotonic()
    answer = get(api_url(live_server.url, api_key[1], extension="5000", status="last"))
    answered_in = time.monotonic() - asked_at

    assert answer == (200, call_url(live_server.url, finished.pk))
    assert answered_in < 0.5
    assert all(waiting.waiting for waiting in waitings)
    clock.advance(3.0)
    for waiting in waitings:
        waiting.join()


def test_a_next_request_answers_code_2_when_no_call_starts_in_the_window(
    live_server, api_key, clock
):
    waiting = NextRequest(live_server.url, api_key[1])
    wait_until_parked()

    clock.advance(2.9)
    assert waiting.waiting
    clock.advance(0.1)
    status, body = waiting.join()

    assert (status, body.split(":")[0]) == (200, "ERROR 2")


def test_a_next_request_answers_code_3_when_two_calls_start_together(live_server, api_key):
    waiting = NextRequest(live_server.url, api_key[1])
    wait_until_parked()

    now = timezone.now()
    Call.objects.bulk_create(
        [
            CallFactory.build(called_number=NUMBER, started_at=now, ended_at=None),
            CallFactory.build(called_number=NUMBER, started_at=now, ended_at=None),
        ]
    )

    status, body = waiting.join()
    assert (status, body.split(":")[0]) == (200, "ERROR 3")


def test_a_next_request_ignores_a_call_that_was_already_going_on(live_server, api_key):
    CallFactory(called_number=NUMBER, started_at=timezone.now(), ended_at=None)
    waiting = NextRequest(live_server.url, api_key[1])
    wait_until_parked()

    later = CallFactory(
        called_number=NUMBER, started_at=timezone.now() + timedelta(milliseconds=10), ended_at=None
    )

    assert waiting.join() == (200, call_url(live_server.url, later.pk))


def test_next_then_last_falls_back_to_the_last_call_after_the_window(live_server, api_key, clock):
    finished = CallFactory(called_number=NUMBER)
    answers = []
    url = api_url(live_server.url, api_key[1], extension=NUMBER, status="next,last")
    asking = threading.Thread(target=lambda: answers.append(get(url)))
    asking.start()
    wait_until_parked()

    clock.advance(3.0)
    asking.join(timeout=10)

    assert answers == [(200, call_url(live_server.url, finished.pk))]


def other_sessions() -> int | None:
    """PostgreSQL sessions on the test database besides this thread's; None on SQLite."""
    if connections["default"].vendor != "postgresql":
        return None
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def pooled() -> bool:
    """Connections come from the pool (PostgreSQL's default): closing one gives it back."""
    return "POOL_OPTIONS" in connections["default"].settings_dict


def taken_from_pool() -> int:
    """How many of the pool's connections are in use (this thread's included)."""
    if not pooled():
        return 0
    from dj_db_conn_pool.core import pool_container

    connections["default"].ensure_connection()
    return pool_container.get("default").checkedout()


def test_a_waiting_next_request_holds_no_database_connection(live_server, api_key):
    before = other_sessions()
    taken_before = taken_from_pool()
    wrapper_class = type(connections["default"])
    real_close = wrapper_class.close
    closed_by: set[int] = set()

    def close(wrapper):
        if threading.current_thread().name != "callportal-next-watcher":
            closed_by.add(threading.get_ident())
        return real_close(wrapper)

    with mock.patch.object(wrapper_class, "close", close):
        waitings = [NextRequest(live_server.url, api_key[1]) for _ in range(8)]
        wait_until_parked(count=8)

        # Every waiting request thread gave its connection back ...
        assert len(closed_by) >= 8
        if pooled():
            # ... and the pool agrees: eight waiting requests take only the watcher's
            # connection from it; the others wait, open, for the next request.
            assert taken_from_pool() <= taken_before + 1
        elif before is not None:
            # ... and PostgreSQL agrees: eight waiting requests add only the watcher's one
            # session (an in-memory SQLite test database cannot be closed: PG only).
            assert other_sessions() <= before + 1

        CallFactory(called_number=NUMBER, started_at=timezone.now(), ended_at=None)
        for waiting in waitings:
            assert waiting.join()[0] == 200


def test_a_next_request_beyond_the_most_a_process_holds_is_answered_unavailable_at_once(
    live_server, api_key, settings
):
    settings.NEXT_MAX_WAITING = 2
    waitings = [NextRequest(live_server.url, api_key[1]) for _ in range(2)]
    wait_until_parked(count=2)

    with pytest.raises(urllib.error.HTTPError) as refused:
        get(api_url(live_server.url, api_key[1], extension=NUMBER, status="next"))

    assert refused.value.code == 503
    assert refused.value.read().decode().startswith("ERROR 9:")
    assert all(waiting.waiting for waiting in waitings)
    CallFactory(called_number=NUMBER, started_at=timezone.now(), ended_at=None)
    for waiting in waitings:
        assert waiting.join()[0] == 200


# --- The README's server: gunicorn with gunicorn.conf.py --------------------------------

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepted_connections(master: int, port: int) -> int:
    """Open client connections the server's workers have accepted on `port` (Linux /proc)."""
    inodes = set()
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            # 01 is ESTABLISHED (a listening socket is 0A).
            count += local_port == port and state == "01" and inode in inodes
    return count


@pytest.fixture
def gunicorn_server(tmp_path):
    """`make serve`'s command, on 127.0.0.1 and a SQLite file of its own: (base URL, key, env)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/server.sqlite3",
        "BIND": f"127.0.0.1:{port}",
        "API_THROTTLE": "off",
        # Long enough that a slow (loaded) machine still writes the call inside the window.
        "NEXT_WINDOW_SECONDS": "30",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run(  # noqa: S603 - fixed arguments
        [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    created = subprocess.run(  # noqa: S603 - fixed arguments
        [*manage, "create_api_key", "Server test"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "callportal.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(api_url(base, key, action="RequestToken"), timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                assert server.poll() is None, "gunicorn exited"
                time.sleep(0.2)
        yield base, key, env, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_readme_server_answers_others_while_next_requests_wait_and_releases_them_at_once(
    gunicorn_server,
):
    base, key, env, master = gunicorn_server
    port = int(base.rsplit(":", 1)[1])
    before = accepted_connections(master, port)
    # Spread over both worker processes; with sync workers two would already block both.
    waitings = [NextRequest(base, key) for _ in range(6)]
    deadline = time.monotonic() + 15
    while accepted_connections(master, port) < before + len(waitings):
        assert time.monotonic() < deadline, "the server never accepted the next requests"
        time.sleep(0.02)

    asked_at = time.monotonic()
    status, body = get(api_url(base, key, extension="5000", status="last"))
    answered_in = time.monotonic() - asked_at

    assert (status, body.split(":")[0]) == (200, "ERROR 2")
    # Blocked behind the waiters, it would take their whole 30 s window.
    assert answered_in < 5
    assert all(waiting.waiting for waiting in waitings)

    # Written by yet another process (a Django shell: no announce reaches the server).
    write = (
        "import time; from django.utils import timezone; from calls.models import Call; "
        f"c = Call.objects.create(caller_number='+442071234567', called_number='{NUMBER}', "
        "started_at=timezone.now()); print(c.pk, time.time())"
    )
    written = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "shell", "-c", write],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    call_id, written_at = written.stdout.strip().splitlines()[-1].split()

    for waiting in waitings:
        assert waiting.join() == (200, call_url(base, call_id))
    # The contract's bound for a call written anywhere.
    assert max(waiting.answered_wall for waiting in waitings) - float(written_at) < 1.5


def test_the_readme_server_lets_a_long_query_string_reach_the_api(gunicorn_server):
    # gunicorn's default request-line limit (4094) would answer this with its own HTML 400.
    base, key, _, _ = gunicorn_server
    status, body = get(api_url(base, key, extension="8" * 6000, status="last"))
    assert (status, body.split(":")[0]) == (200, "ERROR 1")
