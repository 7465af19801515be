"""gunicorn's gevent worker, accepting waiting connections at once and evenly between workers.

Measured (issue 19, item 3: 300 keep-alive clients, 2 workers): the slowest 1 % of requests
were all the first request of a connection that had waited 7 to 8 s to be *accepted*; once
in, every request waited its turn for a pooled connection (first come, first served,
pooled_postgresql/fifo.py). gunicorn's gevent worker takes one connection per turn of its
loop when there are several workers (`max_accept = 1`), so that one worker does not take
them all; but under load a turn of the loop serves many requests, and a worker took about 15
new connections a second while hundreds waited in the listening socket's backlog. A waiting
connection is in nobody's queue, so nothing is first come, first served for it.

This worker accepts every waiting connection on its turn, and keeps the split even another
way: the workers of one gunicorn count their open connections in memory they share (made
before the fork), and a worker with more than `ACCEPT_SLACK` above the least-loaded live
worker leaves new connections to it. Keep-alive connections stay with the worker that
accepted them, so an uneven split would be an uneven queue: with 191 and 110 of 300 clients,
the first worker's clients waited twice as long as the second's. A connection that no other
worker takes within `ACCEPT_GRACE_SECONDS` (that worker is busy with one long request, or
gone) is taken anyway, one per grace period, so a stuck worker does not hold up new
connections for long.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
from typing import Any

from gevent.server import StreamServer
from gunicorn.workers import ggevent

# More worker processes than an app server runs; a slot is only read while its process lives.
SLOTS = 256
# A worker leaves new connections to another while it holds more than this many above it.
ACCEPT_SLACK = 16
# How often a worker that left connections to others looks again whether it is its turn.
ACCEPT_RECHECK_SECONDS = 0.01
# How long a connection may wait for a less-loaded worker before any worker takes it.
ACCEPT_GRACE_SECONDS = 0.25
# Connections taken in one turn of the loop (gevent's default).
ACCEPT_BATCH = 100


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user took the number: not ours
        return False
    return True


class ConnectionCounts:
    """Open connections per worker process, in memory shared by the processes forked after it.

    Each worker writes only its own slot; the others read it (a count one connection stale
    is harmless). A slot whose process is gone is free for the next worker.
    """

    def __init__(self, slots: int = SLOTS) -> None:
        self._pids = multiprocessing.RawArray(ctypes.c_int, slots)
        self._open = multiprocessing.RawArray(ctypes.c_int, slots)
        self._lock = multiprocessing.Lock()

    def claim(self, pid: int | None = None) -> int:
        """A slot for this process (called in the worker, after the fork)."""
        pid = pid or os.getpid()
        with self._lock:
            for slot, owner in enumerate(self._pids):
                if owner == 0 or owner == pid or not _alive(owner):
                    self._pids[slot] = pid
                    self._open[slot] = 0
                    return slot
        raise RuntimeError(f"more than {len(self._pids)} worker processes")

    def release(self, slot: int) -> None:
        """This worker accepts no more (it is stopping): the others no longer wait for it."""
        with self._lock:
            self._pids[slot] = 0
            self._open[slot] = 0

    def opened(self, slot: int) -> None:
        self._open[slot] += 1

    def closed(self, slot: int) -> None:
        self._open[slot] -= 1

    def held(self, slot: int) -> int:
        return self._open[slot]

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The open connections of the least-loaded other live worker (None: no other)."""
        fewest = None
        for other, pid in enumerate(self._pids):
            if other == slot or pid == 0 or not _alive(pid):
                continue
            count = self._open[other]
            fewest = count if fewest is None else min(fewest, count)
        return fewest


class BalancedStreamServer(StreamServer):
    """gevent's StreamServer taking every waiting connection, unless another worker has fewer."""

    def __init__(self, *args: Any, counts: ConnectionCounts, slot: int, **kwargs: Any) -> None:
        self._counts = counts
        self._slot = slot
        self._overdue = False
        self._deferred_since: float | None = None
        self.grace = ACCEPT_GRACE_SECONDS
        super().__init__(*args, **kwargs)

    # gunicorn sets max_accept to 1 when it runs several workers: ignored (see the module).
    @property
    def max_accept(self) -> int:
        return ACCEPT_BATCH

    @max_accept.setter
    def max_accept(self, value: int) -> None:
        pass

    def my_turn(self) -> bool:
        fewest = self._counts.fewest_elsewhere(self._slot)
        return fewest is None or self._counts.held(self._slot) <= fewest + ACCEPT_SLACK

    def do_read(self) -> Any:
        if self._overdue:
            self._overdue = False  # one connection, then the usual rule again
        elif not self.my_turn():
            self._leave_to_others()
            return None
        self._deferred_since = None
        accepted = super().do_read()
        if accepted:
            self._counts.opened(self._slot)
        return accepted

    def do_close(self, *args: Any) -> None:
        # Called once per accepted connection, when its handler has finished.
        try:
            super().do_close(*args)
        finally:
            self._counts.closed(self._slot)

    def close(self) -> None:
        # A worker stopping (a restart: SIGHUP, or SIGTERM) finishes its requests for up to
        # graceful_timeout but accepts nothing more: the others must not leave new
        # connections to it.
        self._counts.release(self._slot)
        super().close()

    def _leave_to_others(self) -> None:
        # Look again shortly (the others' counts change as they accept); after the grace
        # period without our turn, take one anyway.
        if self._deferred_since is None:
            self._deferred_since = self.loop.now()
        self.stop_accepting()
        self._timer = self.loop.timer(ACCEPT_RECHECK_SECONDS)
        self._timer.start(self._look_again)

    def _look_again(self) -> None:
        self.stop_accepting()  # ends this timer (the watcher is stopped already)
        since = self._deferred_since
        if since is not None and self.loop.now() - since >= self.grace:
            # Nobody less loaded took the connection that waits: take one (nothing if
            # none waits), then the usual rule again.
            self._overdue = True
        try:
            self._do_read()  # type: ignore[attr-defined]  # gevent's, not in its stubs
        finally:
            self._overdue = False
        if self._timer is None:  # not left to the others again
            self._start_accepting_if_started()


# Made at import, in the gunicorn master (it loads the worker class before it forks), so
# that every worker it forks shares the same counts.
COUNTS = ConnectionCounts()


class GeventWorker(ggevent.GeventWorker):
    """gunicorn's gevent worker with the BalancedStreamServer (see the module)."""

    stream_server = BalancedStreamServer

    def run(self) -> None:
        # gunicorn's run() makes its server from the module's StreamServer name; this process
        # is this worker alone, so the name is replaced here rather than copying run().
        ggevent.StreamServer = functools.partial(  # type: ignore[attr-defined,assignment]
            self.stream_server, counts=COUNTS, slot=COUNTS.claim()
        )
        super().run()
