"""The `status=next` long poll: wait for the next call on a number, without a DB connection.

How it works (docs/deployment.md has the sizing, docs/decisions.md the choices):

- A waiting request registers a waiter for its number, gives its database connection back,
  and sleeps on a `threading.Event` until it is released or the window closes.
- One watcher thread per process (started when the first waiter arrives, gone when the last
  leaves) asks the database every NEXT_POLL_SECONDS "which calls on the waited-for numbers
  start at or after the oldest waiter's arrival minus the grace?" and offers the answer to
  the waiters. That look needs no clock agreement between app servers and no commit
  ordering: it sees every committed call, whoever wrote it (ingestion API, admin, an
  import, another app server).
- Writers in this process call `announce(call)` after commit, which offers the call at once.
- Each waiter decides for itself which offered calls count (`_Waiter.offer`), so the watcher
  never needs to remember what it has already seen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from calls.models import Call

logger = logging.getLogger(__name__)


class TooManyWaiting(Exception):
    """This process already holds NEXT_MAX_WAITING `next` requests; try again shortly.

    Every waiting request occupies a server thread. The cap keeps threads free for other
    requests, so a flood of `next` requests cannot stop the rest of the API from answering.
    """


# Two results are enough to tell "exactly one" from "ambiguous".
MAX_RESULTS = 2
# Keeps the IN (...) lists of the watcher's look well below any database's parameter limit.
_NUMBERS_PER_QUERY = 500
# After a failed look, wait this long before the next one (the database may be restarting).
_ERROR_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Seen:
    """The few fields of a call that decide whether it releases a waiter."""

    id: UUID
    caller_number: str
    called_number: str
    started_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, call: Call) -> _Seen:
        return cls(
            call.pk, call.caller_number, call.called_number, call.started_at, call.created_at
        )


_SEEN_FIELDS = ("id", "caller_number", "called_number", "started_at", "created_at")


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _look(numbers: Iterable[str], since: datetime) -> list[_Seen]:
    """Calls where one of `numbers` is the caller or the called party, starting at/after `since`.

    Two queries per chunk (one per number column) so each runs as an index range scan on
    (caller_number, started_at) / (called_number, started_at), never an OR across columns.
    """
    found: dict[UUID, _Seen] = {}
    ordered = sorted(set(numbers))
    for chunk in _chunks(ordered, _NUMBERS_PER_QUERY):
        for column in ("caller_number", "called_number"):
            rows = Call.objects.filter(**{f"{column}__in": chunk}, started_at__gte=since)
            for row in rows.values_list(*_SEEN_FIELDS):
                found[row[0]] = _Seen(*row)
    return list(found.values())


def _grace() -> timedelta:
    return timedelta(seconds=settings.NEXT_GRACE_SECONDS)


def _poll_seconds() -> float:
    return float(settings.NEXT_POLL_SECONDS)


@dataclass(eq=False)
class _Waiter:
    number: str
    arrived_at: datetime
    # Ids of the calls already recorded when the request arrived; None until the first look.
    known: frozenset[UUID] | None = None
    # Offers that came in before the first look finished; judged once `known` is set.
    pending: list[_Seen] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    matches: list[_Seen] = field(default_factory=list)

    def counts(self, seen: _Seen, now: datetime) -> bool:
        """Does `seen` count as the next call for this waiter (the contract's §5 `next`)?"""
        grace = _grace()
        return (
            self.number in (seen.caller_number, seen.called_number)
            and self.known is not None
            and seen.id not in self.known
            # Recorded after the request arrived. The id check above does the precise
            # work; this excludes a call recorded long before whose start was later moved
            # into the window. The grace absorbs clock differences between app servers.
            and seen.created_at > self.arrived_at - grace
            # Starts after arrival, minus the clock-skew grace between PBX and us ...
            and seen.started_at >= self.arrived_at - grace
            # ... and has started: a start a little ahead of our clock is skew, one further
            # ahead is answered once it is reached (the watcher offers it again each look).
            and seen.started_at <= now + grace
        )

    def offer(self, calls: Iterable[_Seen], now: datetime) -> None:
        """Judge `calls`; release the waiter when any count. Caller holds the hub's lock."""
        if self.released.is_set():
            return
        if self.known is None:
            self.pending.extend(calls)
            return
        found = {seen.id: seen for seen in calls if self.counts(seen, now)}
        if found:
            self.matches = sorted(found.values(), key=lambda s: (s.started_at, str(s.id)))[
                :MAX_RESULTS
            ]
            self.released.set()


class _Hub:
    """The waiters of this process, keyed by number, and the one watcher thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Wakes the watcher early when the last waiter leaves, and `wait_idle` when it stops.
        self._changed = threading.Condition(self._lock)
        self._waiters: dict[str, set[_Waiter]] = {}
        self._watcher: threading.Thread | None = None

    def waiting(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._waiters.values())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no watcher runs (its connection closed); False if it still runs."""
        with self._changed:
            return self._changed.wait_for(lambda: self._watcher is None, timeout=timeout)

    def add(self, waiter: _Waiter) -> None:
        limit = settings.NEXT_MAX_WAITING
        with self._lock:
            if limit and sum(len(group) for group in self._waiters.values()) >= limit:
                raise TooManyWaiting
            self._waiters.setdefault(waiter.number, set()).add(waiter)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="callportal-next-watcher", daemon=True
                )
                self._watcher.start()

    def remove(self, waiter: _Waiter) -> None:
        with self._lock:
            group = self._waiters.get(waiter.number)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[waiter.number]
            if not self._waiters:
                self._changed.notify_all()

    def ready(self, waiter: _Waiter, known: frozenset[UUID], present: list[_Seen]) -> None:
        """The waiter's first look is done: judge what it saw and what was offered meanwhile."""
        with self._lock:
            waiter.known = known
            backlog, waiter.pending = waiter.pending, []
            waiter.offer([*present, *backlog], timezone.now())

    def offer_to(self, waiter: _Waiter, calls: Iterable[_Seen]) -> None:
        with self._lock:
            waiter.offer(calls, timezone.now())

    def offer(self, calls: Iterable[_Seen]) -> None:
        by_number: dict[str, list[_Seen]] = {}
        for seen in calls:
            by_number.setdefault(seen.caller_number, []).append(seen)
            if seen.called_number != seen.caller_number:
                by_number.setdefault(seen.called_number, []).append(seen)
        now = timezone.now()
        with self._lock:
            for number, offered in by_number.items():
                for waiter in self._waiters.get(number, ()):
                    waiter.offer(offered, now)

    def _watch(self) -> None:
        while True:
            self._watch_while_waited()
            # The watcher's own connection must not outlive its waiters: close it first,
            # then stop, unless a waiter arrived meanwhile (then carry on, reconnecting).
            connection.close()
            with self._lock:
                if not self._waiters:
                    self._watcher = None
                    self._changed.notify_all()
                    return

    def _watch_while_waited(self) -> None:
        while True:
            with self._lock:
                if not self._waiters:
                    return
                numbers = list(self._waiters)
                since = (
                    min(w.arrived_at for group in self._waiters.values() for w in group) - _grace()
                )
            pause = _poll_seconds()
            try:
                self.offer(_look(numbers, since))
            except Exception as error:  # the watcher must outlive any failure
                # Only the failure's class: query text and parameters stay out of the log.
                logger.warning("next watcher: look failed (%s); retrying", type(error).__name__)
                if isinstance(error, DatabaseError):
                    connection.close()
                pause = _ERROR_BACKOFF_SECONDS
            with self._changed:
                self._changed.wait_for(lambda: not self._waiters, timeout=pause)


_hub = _Hub()


def waiting_count() -> int:
    """How many `next` requests this process is holding right now (for monitoring)."""
    return _hub.waiting()


def announce(call: Call) -> None:
    """Tell waiters in this process that `call` was just written (call after commit).

    Writers in other processes are found by the watcher's own look at the database; this
    is the shortcut that releases waiters in the writing process at once.
    """
    if call.pk is None or call.started_at is None or call.created_at is None:
        return  # not a stored call: nothing a waiter could be given
    _hub.offer([_Seen.of(call)])


def _release_connection() -> None:
    # Inside a transaction the connection cannot be given back without losing the
    # transaction; the Business API view runs in autocommit, so this is the normal path.
    if not connection.in_atomic_block:
        connection.close()


def wait_for_next(number: str, arrived_at: datetime) -> list[Call]:
    """The call(s) on `number` that start after `arrived_at`, waiting up to the window.

    Returns [] when none came by `arrived_at + NEXT_WINDOW_SECONDS`, [call] for exactly one,
    and [call, call] (the first two by start time) when more than one did: ambiguous.
    The caller's database connection is closed while waiting. Raises TooManyWaiting when
    this process already holds NEXT_MAX_WAITING waiting requests.
    """
    deadline = time.monotonic() + max(
        0.0, settings.NEXT_WINDOW_SECONDS - (timezone.now() - arrived_at).total_seconds()
    )
    since = arrived_at - _grace()
    waiter = _Waiter(number=number, arrived_at=arrived_at)
    # Registered before the first look, so nothing announced in between is lost.
    _hub.add(waiter)
    try:
        present = _look([number], since)
        known = frozenset(seen.id for seen in present if seen.created_at <= arrived_at)
        _hub.ready(waiter, known, present)
        if not waiter.released.is_set():
            _release_connection()
            waiter.released.wait(timeout=max(0.0, deadline - time.monotonic()))
        if not waiter.released.is_set():
            # The window has closed: one last look of our own, so a call written since
            # the watcher's last look is not missed.
            _hub.offer_to(waiter, _look([number], since))
    finally:
        _hub.remove(waiter)
    return _fetch(waiter.matches)


def _fetch(matches: list[_Seen]) -> list[Call]:
    if not matches:
        return []
    calls = {call.pk: call for call in Call.objects.filter(pk__in=[m.id for m in matches])}
    # A call deleted in the meantime simply drops out.
    return [calls[m.id] for m in matches if m.id in calls]


def wait_until_idle(timeout: float) -> bool:
    """Wait until this process has no watcher thread (and so no watcher DB connection).

    For orderly shutdown and for tests that drop the database afterwards. False on timeout.
    """
    return _hub.wait_idle(timeout)
