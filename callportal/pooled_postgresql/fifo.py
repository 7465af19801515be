"""A connection pool that hands a returned connection to the request that has waited longest.

SQLAlchemy's QueuePool waits on a condition variable: a returned connection wakes one
waiter, but the waiter must run before it can take it, and whoever runs first takes it. A
request that gives its connection back and asks again at once (the next statement of a
request that closes between statements, the audit writer, a keep-alive client's next
request) is running, so it wins; the woken waiter finds the queue empty and goes back to the
end of the line. Under load this made a few requests wait for the whole pool timeout while
the median waited milliseconds (issue 19: p99 9–11 s at 300 clients, 174 failures after
30 s at 600, median 15 ms).

FifoQueuePool puts a first-come-first-served gate in front of QueuePool: as many permits
as the pool has connections; a request takes a permit before it takes a connection, and a
returned connection's permit goes straight to the oldest waiter (the running request that
returned it cannot take it back). So the worst wait is about queue length ÷ throughput.
Works under gevent (threading is patched: the locks and events are gevent's) and with real
threads alike.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from sqlalchemy import exc
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool


class FifoGate:
    """A counting semaphore that serves its waiters in the order they arrived."""

    def __init__(self, permits: int) -> None:
        self._free = permits
        self._waiters: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> bool:
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return True
            ticket = threading.Event()
            self._waiters.append(ticket)
        if ticket.wait(timeout):
            return True
        with self._lock:
            if ticket.is_set():  # handed a permit just as the wait ran out: keep it
                return True
            self._waiters.remove(ticket)
            return False

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                # The permit passes to the oldest waiter directly; it never becomes free,
                # so nobody who arrived later can take it first.
                self._waiters.popleft().set()
            else:
                self._free += 1

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)


class FifoQueuePool(QueuePool):
    """QueuePool whose waiters are served first come, first served (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        permits = self._pool.maxsize + max(self._max_overflow, 0)
        self._gate = FifoGate(permits) if self._max_overflow > -1 else None

    def _do_get(self) -> ConnectionPoolEntry:
        if self._gate is None:
            return super()._do_get()
        if not self._gate.acquire(self._timeout):
            raise exc.TimeoutError(
                f"QueuePool limit of size {self.size()} overflow {self.overflow()} reached, "
                f"connection timed out, timeout {self._timeout:0.2f}",
                code="3o7r",
            )
        try:
            # Holding a permit, a connection is free or may be made: this does not wait.
            return super()._do_get()
        except BaseException:
            self._gate.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            if self._gate is not None:
                self._gate.release()

    @property
    def waiting(self) -> int:
        """Requests waiting for a connection right now."""
        return self._gate.waiting if self._gate is not None else 0
