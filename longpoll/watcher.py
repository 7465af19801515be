"""The `status=next` long poll: wait for the next call on a number, without a DB connection.

How it works (docs/deployment.md has the sizing, docs/decisions.md the choices):

- A waiting request makes one look of its own (its connection is open anyway), registers
  a waiter for its number, closes its database connection and sleeps on a
  `threading.Event` until it is released or the window closes. It does not touch the
  database again: the calls it answers with are handed to it. So a burst of releases, or
  of windows closing, never turns into a burst of new database connections.
- One watcher thread per process (started when the first waiter arrives, gone when the last
  leaves) asks the database every NEXT_POLL_SECONDS "which calls on the waited-for numbers
  start at or after the oldest waiter's arrival minus the grace?" and offers the answer to
  the waiters. That look needs no commit ordering: it sees every committed call, whoever
  wrote it (ingestion API, admin, an import, another app server). Judging a call as
  recorded after the request arrived compares its `created_at` (the writer's clock) with
  the arrival (this server's), so app servers' clocks must agree within NEXT_GRACE_SECONDS.
- Writers in this process call `announce(call)` after commit, which offers the call at once.
- Each waiter judges offered calls itself (`_Waiter.judge`), so the watcher never needs to
  remember what it has already seen. When the window closes, the waiter's answer is
  decided by the first watcher look that began after the window closed: nothing committed
  in time is missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection

from calls.models import Call
from longpoll.clock import Clock
from shared.connections import give_back_connection

logger = logging.getLogger(__name__)

# Every reading of the time and every wait for a window goes through this clock; tests put
# a longpoll.clock.ManualClock here to close windows without waiting them out.
clock: Clock = Clock()


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
# How long past its window a waiter waits for the watcher's closing look before making
# that look itself (the watcher may be failing, e.g. while the database is away).
_CLOSING_LOOK_PATIENCE_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class _Seen:
    """The few fields of a call that decide whether it releases a waiter (and, when at
    hand, the call itself)."""

    id: UUID
    caller_number: str
    called_number: str
    started_at: datetime
    created_at: datetime
    call: Call | None = None

    @classmethod
    def of(cls, call: Call) -> _Seen:
        return cls(
            call.pk,
            call.caller_number,
            call.called_number,
            call.started_at,
            call.created_at,
            call,
        )


_SEEN_FIELDS = ("id", "caller_number", "called_number", "started_at", "created_at")


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _look(numbers: Iterable[str], since: datetime) -> list[_Seen]:
    """Calls where one of `numbers` is the caller or the called party, starting at/after `since`.

    Two queries per chunk (one per number column) so each runs as an index range scan on
    (caller_number, started_at) / (called_number, started_at), never an OR across columns.
    Only the deciding fields are read; whole rows are fetched for the calls that count.
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


@dataclass(eq=False)
class _Waiter:
    number: str
    arrived_at: datetime
    closes_at: datetime
    # When the window closes, on the monotonic clock the watcher stamps its looks with.
    closes_at_monotonic: float
    # Ids of the calls already recorded when the request arrived; None until the first look.
    known: frozenset[UUID] | None = None
    # Offers that came in before the first look finished; judged once `known` is set.
    pending: list[_Seen] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    result: list[Call] = field(default_factory=list)
    # Whether a call (caller, called, start) is in the waiting request's scope; None: any.
    # Judged from memory (directory.scopes.LoadedScope): the waiter holds no connection.
    admits: Callable[[str, str, datetime], bool] | None = None

    def counts(self, seen: _Seen, now: datetime) -> bool:
        """Does `seen` count as the next call for this waiter (the contract's §5 `next`)?"""
        grace = _grace()
        return (
            self.number in (seen.caller_number, seen.called_number)
            and (
                self.admits is None
                or self.admits(seen.caller_number, seen.called_number, seen.started_at)
            )
            and self.known is not None
            and seen.id not in self.known
            # Recorded after the request arrived. The id check above does the precise
            # work; this excludes a call recorded long before whose start was later moved
            # into the window. The grace absorbs clock differences between app servers.
            and seen.created_at > self.arrived_at - grace
            # Starts after arrival, minus the clock-skew grace between PBX and us ...
            and seen.started_at >= self.arrived_at - grace
            # ... and has started, by the time the window closes: a start a little ahead
            # of our clock is skew; one further ahead is answered once it is reached (the
            # watcher offers it again on every look).
            and seen.started_at <= min(now, self.closes_at) + grace
        )

    def judge(self, calls: Iterable[_Seen], now: datetime) -> list[_Seen]:
        """The offered calls that count (first two by start). Caller holds the hub's lock."""
        if self.released.is_set():
            return []
        if self.known is None:
            self.pending.extend(calls)
            return []
        found = {seen.id: seen for seen in calls if self.counts(seen, now)}
        return sorted(found.values(), key=lambda s: (s.started_at, str(s.id)))[:MAX_RESULTS]


class _Hub:
    """The waiters of this process, keyed by number, and the one watcher thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Signals: the last waiter left (the watcher may stop), the watcher stopped, a look
        # finished (waiters whose window closed may decide).
        self._changed = threading.Condition(self._lock)
        self._waiters: dict[str, set[_Waiter]] = {}
        self._count = 0
        self._watcher: threading.Thread | None = None
        # When (monotonic) the latest completed watcher look began.
        self._last_look_began = float("-inf")
        # A waiter's window closed: look now rather than at the end of the pause.
        self._look_requested = False

    def waiting(self) -> int:
        with self._lock:
            return self._count

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no watcher runs (its connection closed); False if it still runs."""
        with self._changed:
            return self._changed.wait_for(lambda: self._watcher is None, timeout=timeout)

    def add(self, waiter: _Waiter) -> None:
        limit = settings.NEXT_MAX_WAITING
        with self._lock:
            if limit and self._count >= limit:
                raise TooManyWaiting
            self._waiters.setdefault(waiter.number, set()).add(waiter)
            self._count += 1
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="callportal-next-watcher", daemon=True
                )
                self._watcher.start()

    def remove(self, waiter: _Waiter) -> None:
        with self._lock:
            group = self._waiters.get(waiter.number)
            if group is not None and waiter in group:
                group.discard(waiter)
                self._count -= 1
                if not group:
                    del self._waiters[waiter.number]
            if not self._waiters:
                self._changed.notify_all()

    def ready(self, waiter: _Waiter, known: frozenset[UUID], present: list[_Seen]) -> None:
        """The waiter's first look is done: judge what it saw and what was offered meanwhile."""
        with self._lock:
            waiter.known = known
            backlog, waiter.pending = waiter.pending, []
            matches = waiter.judge([*present, *backlog], clock.now())
        if matches:
            self._release([(waiter, matches)])

    def offer(self, calls: Iterable[_Seen]) -> None:
        """Judge `calls` for every waiter on their numbers; release those they satisfy."""
        by_number: dict[str, list[_Seen]] = {}
        for seen in calls:
            by_number.setdefault(seen.caller_number, []).append(seen)
            if seen.called_number != seen.caller_number:
                by_number.setdefault(seen.called_number, []).append(seen)
        now = clock.now()
        satisfied = []
        with self._lock:
            for number, offered in by_number.items():
                for waiter in self._waiters.get(number, ()):
                    matches = waiter.judge(offered, now)
                    if matches:
                        satisfied.append((waiter, matches))
        if satisfied:
            self._release(satisfied)

    def _release(self, satisfied: list[tuple[_Waiter, list[_Seen]]]) -> None:
        # Whole rows for every released waiter in one query, made by the thread that found
        # them (the watcher, or a writer whose call object is already at hand), so that
        # released requests never reconnect to the database. A failure here leaves the
        # waiters waiting; the next look offers the calls again.
        missing = {m.id for _, matches in satisfied for m in matches if m.call is None}
        rows = Call.objects.in_bulk(list(missing)) if missing else {}
        with self._lock:
            for waiter, matches in satisfied:
                if waiter.released.is_set():
                    continue
                calls = [m.call or rows.get(m.id) for m in matches]
                # A call deleted since the look simply drops out.
                waiter.result = [call for call in calls if call is not None]
                waiter.released.set()
            self._changed.notify_all()

    def wait_for_closing_look(self, waiter: _Waiter, timeout: float) -> bool:
        """Wait until released, or until a look that began after the window closed is done."""
        with self._changed:
            self._look_requested = True
            self._changed.notify_all()
            return self._changed.wait_for(
                lambda: (
                    waiter.released.is_set() or self._last_look_began >= waiter.closes_at_monotonic
                ),
                timeout=timeout,
            )

    def _watch(self) -> None:
        try:
            while True:
                self._watch_while_waited()
                # The watcher's own connection must not outlive its waiters: close it
                # first, then stop, unless a waiter arrived meanwhile (then carry on).
                connection.close()
                with self._lock:
                    if not self._waiters:
                        self._watcher = None
                        self._changed.notify_all()
                        return
        finally:
            # Should this thread ever die of something unforeseen, the next waiter starts
            # a new watcher (and those waiting now make their closing look themselves).
            with self._lock:
                if self._watcher is threading.current_thread():
                    self._watcher = None
                    self._changed.notify_all()

    def _watch_while_waited(self) -> None:
        while True:
            with self._lock:
                if not self._waiters:
                    return
                self._look_requested = False
                numbers = list(self._waiters)
                since = (
                    min(w.arrived_at for group in self._waiters.values() for w in group) - _grace()
                )
            began = clock.monotonic()
            pause = settings.NEXT_POLL_SECONDS
            try:
                self.offer(_look(numbers, since))
            except Exception as error:  # the watcher must outlive any failure
                # Only the failure's class: query text and parameters stay out of the log.
                logger.warning("next watcher: look failed (%s); retrying", type(error).__name__)
                if isinstance(error, DatabaseError):
                    connection.close()
                pause = _ERROR_BACKOFF_SECONDS
            else:
                with self._lock:
                    self._last_look_began = began
                    self._changed.notify_all()
            with self._changed:
                self._changed.wait_for(
                    lambda: not self._waiters or self._look_requested, timeout=pause
                )


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


def wait_for_next(
    number: str,
    arrived_at: datetime,
    admits: Callable[[str, str, datetime], bool] | None = None,
) -> list[Call]:
    """The call(s) on `number` that start after `arrived_at`, waiting up to the window.

    Returns [] when none came by `arrived_at + NEXT_WINDOW_SECONDS`, [call] for exactly one,
    and [call, call] (the first two by start time) when more than one did: ambiguous.
    With `admits`, only calls it admits count (a request's scope): others do not exist.
    The caller's database connection is closed while waiting and stays closed. Raises
    TooManyWaiting when this process already holds NEXT_MAX_WAITING waiting requests.
    """
    window = timedelta(seconds=settings.NEXT_WINDOW_SECONDS)
    closes_at = arrived_at + window
    remaining = min(window, closes_at - clock.now()).total_seconds()
    waiter = _Waiter(
        number=number,
        arrived_at=arrived_at,
        closes_at=closes_at,
        closes_at_monotonic=clock.monotonic() + max(0.0, remaining),
        admits=admits,
    )
    since = arrived_at - _grace()
    # Registered before the first look, so nothing announced in between is lost.
    _hub.add(waiter)
    try:
        present = _look([number], since)
        known = frozenset(seen.id for seen in present if seen.created_at <= arrived_at)
        _hub.ready(waiter, known, present)
        if waiter.released.is_set():
            return waiter.result
        give_back_connection()
        if clock.wait(waiter.released, max(0.0, remaining)):
            return waiter.result
        patience = settings.NEXT_POLL_SECONDS + _CLOSING_LOOK_PATIENCE_SECONDS
        if not _hub.wait_for_closing_look(waiter, timeout=patience):
            # The watcher is not getting through; make the closing look here (a database
            # failure surfaces to the caller as one).
            _hub.offer(_look([number], since))
        return waiter.result if waiter.released.is_set() else []
    finally:
        _hub.remove(waiter)


def wait_until_idle(timeout: float) -> bool:
    """Wait until this process has no watcher thread (and so no watcher DB connection).

    For orderly shutdown and for tests that drop the database afterwards. False on timeout.
    """
    return _hub.wait_idle(timeout)
