"""A job each app server process repeats on a thread of its own: work the servers do by
themselves (deleting calls when they end, retention), so there is no cron or extra service
to run. Started by gunicorn's worker hook; starting it again is harmless."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)


class PeriodicJob:
    """Run `job` every `interval()` seconds while the interval is above 0.

    The interval is read before every pass, so setting it to 0 stops the thread (tests).
    """

    def __init__(self, name: str, job: Callable[[], object], interval: Callable[[], float]) -> None:
        self.name = name
        self._job = job
        self._interval = interval
        self._lock = threading.Lock()
        self._passes = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.completed = 0

    def start(self) -> None:
        if self._interval() <= 0:
            return
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits the object but not the thread.
                self._pid = os.getpid()
                self._thread = None
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def wait_for_passes(self, count: int, timeout: float) -> bool:
        """Wait until `count` more passes have completed (tests); False on timeout."""
        with self._passes:
            target = self.completed + count
            return self._passes.wait_for(lambda: self.completed >= target, timeout)

    def wait_stopped(self, timeout: float) -> bool:
        """Wait for the thread to end once the interval is 0 (tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self) -> None:
        stop = threading.Event()
        while self._interval() > 0:
            try:
                self._job()
            except DatabaseError as exc:
                logger.warning("%s failed (%s); retrying", self.name, type(exc).__name__)
            except Exception:
                # The thread must outlive any error, or the work would stop for good.
                logger.exception("%s failed; retrying", self.name)
            finally:
                # No connection is held between passes.
                connections.close_all()
            with self._passes:
                self.completed += 1
                self._passes.notify_all()
            stop.wait(max(self._interval(), 0))
