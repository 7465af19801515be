"""The long poll's clock: what time it is, and waiting for a release until a deadline.

The `next` wait reads the time and sleeps through its window by this clock alone, so a test
can put a clock of its own in its place (`longpoll.watcher.clock`) and close a window by
moving the time on, instead of sitting through it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from django.utils import timezone


class Clock:
    """The real time."""

    def now(self) -> datetime:
        return timezone.now()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Until `event` is set (True) or `timeout` seconds have passed (False)."""
        return event.wait(timeout)


class ManualClock(Clock):
    """A clock that moves only when told to (`advance`): for tests.

    It starts at the real time; a wait ends when its event is set or when `advance` has
    moved the time past the wait's deadline, whichever comes first.
    """

    # How often a wait looks at its event between two moves of the clock (real seconds).
    _GLANCE = 0.005

    def __init__(self) -> None:
        self._now = timezone.now()
        self._monotonic = time.monotonic()
        self._moved = threading.Condition()

    def now(self) -> datetime:
        with self._moved:
            return self._now

    def monotonic(self) -> float:
        with self._moved:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._now += timedelta(seconds=seconds)
            self._monotonic += seconds
            self._moved.notify_all()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        with self._moved:
            deadline = self._monotonic + timeout
            while not event.is_set() and self._monotonic < deadline:
                self._moved.wait(self._GLANCE)
        return event.is_set()
