"""The bounded pool for CPU work: transcodes, waveforms, password hashes, CSV export rows.

Under gunicorn's gevent workers every request is a greenlet on one OS thread, so a request
that computes for seconds stops every other request of its worker for that long, the `next`
watcher included (an MP3 encode of a two-hour recording: about 12 s). `run(fn, …)` runs
`fn` on one of CPU_POOL_THREADS real OS threads instead and makes only the calling request
wait; FFmpeg (PyAV) and hashlib release the GIL while they work, so the loop keeps serving
(an MP3 encode stalled a 5 ms ticker greenlet ~12 ms at most this way, ~500 ms on the loop).
Work beyond the pool's size queues there without blocking anyone else. Pure Python work
(the CSV export's rows) keeps the GIL, but gives it up every switch interval (5 ms): the
loop then waits that long for its turn at most, not for the whole piece of work.

Without gevent (tests, `runserver`, gthread workers) a `concurrent.futures` pool of the
same size gives the same bound.

What runs in the pool must not use the database (Django's connections belong to the
thread that opened them) nor sockets opened by the request: give it local files and
values, take back a result.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, ParamSpec, TypeVar, cast

from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


class PoolTimeout(Exception):
    """The work did not finish within CPU_POOL_TIMEOUT_SECONDS (it may still be running)."""


def _under_gevent() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # gevent is a dependency; kept optional for tools that lack it
        return False
    return bool(monkey.is_module_patched("threading"))


# Set on a pool thread while it runs a piece of work. A real thread's own flag: under gevent
# `threading.local` is per greenlet, which on a pool thread is the same thing.
_marker = threading.local()


def _marked(fn: Callable[..., R], args: tuple, kwargs: dict) -> R:
    _marker.active = True
    try:
        return fn(*args, **kwargs)
    finally:
        _marker.active = False


class _Pool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.pid = os.getpid()
        self._gevent = None
        self._executor: ThreadPoolExecutor | None = None
        if _under_gevent():
            from gevent.threadpool import ThreadPool

            # A pool of our own, not the hub's: gevent resolves host names on the hub's
            # pool, which long transcodes must not starve.
            self._gevent = ThreadPool(size)
        else:
            self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="cpu-pool")

    def submit(self, fn: Callable[..., R], args: tuple, kwargs: dict, timeout: float) -> Pending[R]:
        if self._gevent is not None:
            from gevent import Timeout

            result = self._gevent.spawn(_marked, fn, args, kwargs)

            def wait_gevent() -> R:
                try:
                    # gevent's stubs allow None, which only a non-blocking get() gives.
                    return cast(R, result.get(timeout=timeout))
                except Timeout:
                    raise PoolTimeout from None

            return Pending(wait_gevent)
        if self._executor is None:  # never: one of the two is made in __init__
            raise RuntimeError("CPU pool without threads")
        future = self._executor.submit(_marked, fn, args, kwargs)

        def wait_thread() -> R:
            try:
                return future.result(timeout=timeout)
            except FutureTimeout:
                raise PoolTimeout from None

        return Pending(wait_thread)


class Pending(Generic[R]):
    """A piece of work handed to the pool; `result()` waits for it (see `submit`)."""

    def __init__(self, wait: Callable[[], R]) -> None:
        self._wait = wait

    def result(self) -> R:
        return self._wait()


_pool: _Pool | None = None
_lock = threading.Lock()


def _current(size: int) -> _Pool:
    global _pool
    pool = _pool
    # One pool per process (gunicorn forks its workers) and per size (tests change it).
    if pool is None or pool.pid != os.getpid() or pool.size != size:
        with _lock:
            pool = _pool
            if pool is None or pool.pid != os.getpid() or pool.size != size:
                pool = _pool = _Pool(size)
    return pool


def run(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` on a pool thread: its result, or what it raised.

    Raises PoolTimeout after CPU_POOL_TIMEOUT_SECONDS (the work goes on; its result is
    dropped). Already on a pool thread, `fn` runs in place (no pool waits on itself).
    """
    return submit(fn, *args, **kwargs).result()


def submit(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Pending[R]:
    """`run`, without waiting: the caller goes on (reads the next chunk of rows, say) while
    the pool works, and takes the result, or what `fn` raised, from `result()`. Its wait
    is bounded as `run`'s is, from the moment `result()` is called."""
    if in_pool():
        value = fn(*args, **kwargs)
        return Pending(lambda: value)
    size = settings.CPU_POOL_THREADS
    return _current(size).submit(fn, args, kwargs, settings.CPU_POOL_TIMEOUT_SECONDS)


def in_pool() -> bool:
    """Whether the caller runs on one of the pool's threads."""
    return bool(getattr(_marker, "active", False))
