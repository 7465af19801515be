"""Each app server process runs retention every RETENTION_SWEEP_MINUTES, no cron needed.

Started by gunicorn's worker hook (gunicorn.conf.py). Every process tries; the run lock
(purge/lock.py) lets one server at a time do the work and the others skip their turn.
"""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings
from django.db import DatabaseError, connections

from purge.run import run_once

logger = logging.getLogger(__name__)


class Runner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passes = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.completed = 0

    def start(self) -> None:
        if settings.RETENTION_SWEEP_MINUTES <= 0:
            return
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits the object but not the thread.
                self._pid = os.getpid()
                self._thread = None
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
            self._thread.start()

    def wait_for_passes(self, count: int, timeout: float) -> bool:
        """Wait until `count` more passes have completed (tests); False on timeout."""
        with self._passes:
            target = self.completed + count
            return self._passes.wait_for(lambda: self.completed >= target, timeout)

    def wait_stopped(self, timeout: float) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _run(self) -> None:
        stop = threading.Event()
        while settings.RETENTION_SWEEP_MINUTES > 0:
            try:
                run_once()
            except DatabaseError as exc:
                logger.warning("Retention run failed (%s); retrying", type(exc).__name__)
            except Exception:
                # The thread must outlive any error, or retention would stop for good.
                logger.exception("Retention run failed; retrying")
            finally:
                connections.close_all()
            with self._passes:
                self.completed += 1
                self._passes.notify_all()
            stop.wait(max(settings.RETENTION_SWEEP_MINUTES, 0) * 60)


runner = Runner()
