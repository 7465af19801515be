"""The gevent workers accept waiting connections at once and evenly (issue 19, item 3).

A connection waiting in the listening socket's backlog is in no worker's first-come queue:
with gunicorn's own gevent worker (one connection per turn of a busy loop) the slowest
requests were the first ones of connections that waited seconds to be accepted. The tests
drive the server the workers of gunicorn.conf.py use, on a real listening socket, one turn
of its loop at a time (the loop calls the same method when the socket is readable).
"""

import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import gevent.socket
import pytest
from gevent.pool import Pool
from gunicorn.util import load_class

from callportal.gevent_worker import ConnectionCounts

ROOT = Path(__file__).resolve().parents[2]


def configured_worker_class() -> Any:
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return load_class(config["worker_class"])


@pytest.fixture
def listener():
    sock = gevent.socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    clients: list[socket.socket] = []
    yield sock, clients
    for client in clients:
        client.close()
    sock.close()


def connect(listener, count: int) -> None:
    """Clients connect; the kernel completes their handshakes, so they wait to be accepted."""
    sock, clients = listener
    for _ in range(count):
        clients.append(socket.create_connection(sock.getsockname()))


def worker_server(listener, counts: ConnectionCounts, slot: int):
    server = configured_worker_class().stream_server(
        listener[0], handle=lambda client, address: None, spawn=Pool(1000), counts=counts, slot=slot
    )
    server.max_accept = 1  # what gunicorn sets when it runs several workers
    return server


def test_a_worker_takes_every_waiting_connection_on_one_turn_of_its_loop(listener):
    counts = ConnectionCounts(slots=4)
    mine = counts.claim()
    server = worker_server(listener, counts, mine)
    connect(listener, 20)

    server._do_read()

    assert counts.held(mine) == 20


def other_worker(counts: ConnectionCounts, holding: int) -> int:
    # Another live process stands in for the second worker.
    slot = counts.claim(pid=os.getppid())
    for _ in range(holding):
        counts.opened(slot)
    return slot


def test_a_worker_with_more_connections_leaves_new_ones_to_a_worker_with_fewer(listener):
    counts = ConnectionCounts(slots=4)
    mine = counts.claim()
    for _ in range(40):
        counts.opened(mine)
    other = other_worker(counts, holding=10)
    server = worker_server(listener, counts, mine)
    server.grace = 3600  # the other worker is never too slow here
    connect(listener, 5)

    server._do_read()
    assert counts.held(mine) == 40  # left for the other worker

    for _ in range(30):  # the other worker took connections meanwhile: now it has as many
        counts.opened(other)
    server._look_again()
    assert counts.held(mine) == 45


def test_a_connection_no_other_worker_takes_in_the_grace_period_is_taken_one_at_a_time(listener):
    counts = ConnectionCounts(slots=4)
    mine = counts.claim()
    for _ in range(40):
        counts.opened(mine)
    other_worker(counts, holding=0)  # busy, or stuck: it accepts nothing
    server = worker_server(listener, counts, mine)
    server.grace = 0
    connect(listener, 5)

    server._do_read()
    assert counts.held(mine) == 40
    server._look_again()
    assert counts.held(mine) == 41
    server._look_again()
    assert counts.held(mine) == 42


def test_a_worker_that_stops_accepting_is_not_left_new_connections(listener):
    """A restart: the old worker finishes its requests but takes no new connection."""
    counts = ConnectionCounts(slots=4)
    old = other_worker(counts, holding=0)
    own_listener = gevent.socket.socket()  # each worker has its own copy of the socket
    own_listener.bind(("127.0.0.1", 0))
    own_listener.listen(1)
    stopping = worker_server((own_listener, []), counts, old)
    mine = counts.claim()
    for _ in range(40):
        counts.opened(mine)
    server = worker_server(listener, counts, mine)
    server.grace = 3600
    connect(listener, 5)

    stopping.close()
    server._do_read()

    assert counts.held(mine) == 45


def test_a_closed_connection_is_no_longer_counted(listener):
    counts = ConnectionCounts(slots=4)
    mine = counts.claim()
    server = worker_server(listener, counts, mine)
    connect(listener, 3)
    server._do_read()
    assert counts.held(mine) == 3

    server.pool.join()  # the handlers return: their connections close

    assert counts.held(mine) == 0


def test_a_worker_that_is_gone_does_not_count_and_frees_its_slot():
    counts = ConnectionCounts(slots=2)
    mine = counts.claim()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = counts.claim(pid=int(gone.stdout))
    counts.opened(dead)

    assert counts.fewest_elsewhere(mine) is None
    assert counts.claim(pid=os.getppid()) == dead
