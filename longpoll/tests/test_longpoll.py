"""`wait_for_next`, the `status=next` long poll, measured from the waiting side.

Each test runs real threads against the real database (transactional, so that the waiting
thread sees what another thread commits), with a short window to stay fast. A test that
needs the window to close without a call closes it by moving the long poll's clock on
(`clock.advance`), not by waiting it out.
"""

import threading
import time
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import OperationalError, connection, connections
from django.utils import timezone

from calls.models import Call
from calls.tests.factories import CallFactory
from longpoll import watcher as longpoll
from longpoll.clock import ManualClock

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "8856"


@pytest.fixture(autouse=True)
def short_window(settings):
    settings.NEXT_WINDOW_SECONDS = 2.0
    settings.NEXT_GRACE_SECONDS = 1.0
    settings.NEXT_POLL_SECONDS = 0.1
    yield
    # The watcher must stop, and close its connection, once nobody waits.
    assert longpoll.wait_until_idle(timeout=5), "the watcher thread kept running"


@pytest.fixture
def clock(monkeypatch) -> ManualClock:
    """The long poll's clock, moved on by the test."""
    manual = ManualClock()
    monkeypatch.setattr(longpoll, "clock", manual)
    return manual


def closed_without_a_call(waiting: "Waiting", clock: ManualClock, window: float = 2.0) -> list:
    """Close the waiting request's window by the clock; what it answered, at once."""
    waiting.wait_until_waiting()
    clock.advance(window)
    moved = time.monotonic()
    result = waiting.join()
    # Answered by the closing look, not after the window in real time.
    assert waiting.returned_at is not None
    assert waiting.returned_at - moved < 1.5
    return result


class Waiting:
    """`wait_for_next` running in its own thread, like a request in a gunicorn thread."""

    def __init__(self, number: str = NUMBER, arrived_at: datetime | None = None) -> None:
        self.arrived_at = arrived_at or timezone.now()
        self.result: list[Call] | None = None
        self.error: BaseException | None = None
        self.returned_at: float | None = None
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(number,), daemon=True)
        self._thread.start()

    def _run(self, number: str) -> None:
        try:
            self.result = longpoll.wait_for_next(number, self.arrived_at)
        except BaseException as error:  # handed to the test thread, which re-raises it
            self.error = error
        finally:
            self.returned_at = time.monotonic()
            # What Django does at the end of every request; the test database is dropped
            # at the end of the run, which PostgreSQL refuses while sessions remain.
            connection.close()

    def wait_until_waiting(self) -> None:
        """Block until this request is parked in the long poll (past its first look)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.returned_at is None and longpoll.waiting_count() > 0:
                time.sleep(0.05)  # let it finish its first look and close its connection
                return
            time.sleep(0.01)
        raise AssertionError("the request never started waiting")

    def join(self, timeout: float = 10) -> list[Call]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "wait_for_next never returned"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def new_call(**fields) -> Call:
    """A call that starts now, written the way another process would: no announce."""
    fields.setdefault("called_number", NUMBER)
    fields.setdefault("started_at", timezone.now())
    fields.setdefault("ended_at", None)
    return CallFactory(**fields)


def test_it_releases_the_request_at_once_when_this_process_announces_the_call():
    waiting = Waiting()
    waiting.wait_until_waiting()

    call = new_call()
    longpoll.announce(call)
    written_at = time.monotonic()

    assert waiting.join() == [call]
    assert waiting.returned_at - written_at < 0.2


def test_it_sees_a_call_written_by_another_process_within_a_second_without_announce():
    waiting = Waiting()
    waiting.wait_until_waiting()

    call = new_call()
    written_at = time.monotonic()

    assert waiting.join() == [call]
    assert waiting.returned_at - written_at < 1.0


def test_it_answers_nothing_when_no_call_starts_before_the_window_closes(clock):
    waiting = Waiting()
    waiting.wait_until_waiting()

    clock.advance(1.9)
    # Just before the window closes it is still waiting.
    assert waiting.returned_at is None and longpoll.waiting_count() == 1

    assert closed_without_a_call(waiting, clock, window=0.1) == []


def test_it_ignores_a_call_recorded_before_the_request_arrived(clock):
    new_call(started_at=timezone.now() - timedelta(milliseconds=200))
    waiting = Waiting()

    assert closed_without_a_call(waiting, clock) == []


def test_it_counts_a_call_recorded_after_arrival_that_started_within_the_grace():
    arrived_at = timezone.now()
    time.sleep(0.05)
    # The PBX's clock is behind ours: the start is before arrival, but within 1 s grace.
    call = new_call(started_at=arrived_at - timedelta(seconds=0.8))

    assert Waiting(arrived_at=arrived_at).join() == [call]


def test_it_ignores_a_call_that_started_before_the_grace(clock):
    waiting = Waiting()
    waiting.wait_until_waiting()

    new_call(started_at=waiting.arrived_at - timedelta(seconds=3))

    assert closed_without_a_call(waiting, clock) == []


def test_it_counts_a_call_written_between_arrival_and_the_start_of_waiting():
    arrived_at = timezone.now()
    time.sleep(0.05)
    call = new_call()

    started = time.monotonic()
    assert Waiting(arrived_at=arrived_at).join() == [call]
    assert time.monotonic() - started < 0.5


def test_it_finds_the_number_as_the_calling_party_too():
    waiting = Waiting(number="+442071234567")
    waiting.wait_until_waiting()

    call = new_call(caller_number="+442071234567", called_number="5000")

    assert waiting.join() == [call]


def test_it_ignores_calls_on_other_numbers(clock):
    waiting = Waiting()
    waiting.wait_until_waiting()

    new_call(called_number="8857")

    assert closed_without_a_call(waiting, clock) == []


def test_it_returns_both_calls_when_two_start_together_so_the_api_can_say_ambiguous():
    waiting = Waiting()
    waiting.wait_until_waiting()

    now = timezone.now()
    first, second = Call.objects.bulk_create(
        [
            CallFactory.build(called_number=NUMBER, started_at=now, ended_at=None),
            CallFactory.build(
                called_number=NUMBER, started_at=now + timedelta(milliseconds=5), ended_at=None
            ),
        ]
    )

    assert waiting.join() == [first, second]


def test_it_waits_for_a_call_recorded_ahead_of_its_start_until_it_starts():
    waiting = Waiting()
    waiting.wait_until_waiting()

    # Recorded now, starting 1.5 s from now: more than the 1 s grace ahead of our clock.
    call = new_call(started_at=timezone.now() + timedelta(seconds=1.5))
    longpoll.announce(call)
    written_at = time.monotonic()

    assert waiting.join() == [call]
    assert 0.4 < waiting.returned_at - written_at < 1.2


def test_it_ignores_an_old_call_whose_start_time_is_moved_into_the_window(clock):
    old = CallFactory(called_number=NUMBER)
    Call.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    waiting = Waiting()
    waiting.wait_until_waiting()

    Call.objects.filter(pk=old.pk).update(started_at=timezone.now(), ended_at=None)

    assert closed_without_a_call(waiting, clock) == []


def test_it_releases_every_request_waiting_on_the_number_with_one_call():
    waitings = [Waiting() for _ in range(20)]
    for waiting in waitings:
        waiting.wait_until_waiting()

    call = new_call()

    assert [waiting.join() for waiting in waitings] == [[call]] * 20


def test_it_gives_its_database_connection_back_while_waiting():
    closed_by: list[int] = []
    wrapper_class = type(connections["default"])
    real_close = wrapper_class.close

    def close(wrapper):
        closed_by.append(threading.get_ident())
        return real_close(wrapper)

    with mock.patch.object(wrapper_class, "close", close):
        waiting = Waiting()
        waiting.wait_until_waiting()
        # Closed after its first look, while it goes on waiting.
        deadline = time.monotonic() + 10
        while waiting._thread.ident not in closed_by:
            assert time.monotonic() < deadline, "the waiting request kept its connection"
            time.sleep(0.01)
        assert waiting.returned_at is None
        new_call()
        waiting.join()


def test_one_watcher_serves_every_waiting_request(clock):
    waitings = [Waiting(number=f"10{n}") for n in range(10)]
    for waiting in waitings:
        waiting.wait_until_waiting()

    watchers = [t for t in threading.enumerate() if t.name == "callportal-next-watcher"]

    assert len(watchers) == 1
    clock.advance(2.0)
    for waiting in waitings:
        waiting.join()


def test_it_refuses_a_request_beyond_the_most_it_may_hold_and_takes_one_again_later(
    settings, clock
):
    settings.NEXT_MAX_WAITING = 3
    waitings = [Waiting(number=f"20{n}") for n in range(3)]
    for waiting in waitings:
        waiting.wait_until_waiting()

    with pytest.raises(longpoll.TooManyWaiting):
        longpoll.wait_for_next(NUMBER, timezone.now())

    clock.advance(2.0)
    for waiting in waitings:
        waiting.join()
    assert closed_without_a_call(Waiting(), clock) == []


def test_a_call_written_just_before_the_window_closes_is_still_answered(settings, clock):
    # The watcher looks only once inside the window (at its start), so only the look
    # made when the window closes can find this unannounced call.
    settings.NEXT_POLL_SECONDS = 30.0
    waiting = Waiting()
    waiting.wait_until_waiting()
    clock.advance(1.5)

    call = new_call()

    assert closed_without_a_call(waiting, clock, window=0.5) == [call]


def test_a_released_request_does_not_reconnect_to_the_database():
    wrapper_class = type(connections["default"])
    real_connect = wrapper_class.connect
    connected_by: list[int] = []

    def connect(wrapper):
        connected_by.append(threading.get_ident())
        return real_connect(wrapper)

    waitings = [Waiting() for _ in range(5)]
    for waiting in waitings:
        waiting.wait_until_waiting()
    with mock.patch.object(wrapper_class, "connect", connect):
        call = new_call()
        results = [waiting.join() for waiting in waitings]

    assert results == [[call]] * 5
    assert not {waiting._thread.ident for waiting in waitings} & set(connected_by)


def test_the_watcher_carries_on_after_a_failed_look(caplog, settings):
    settings.NEXT_WINDOW_SECONDS = 4.0
    real_look = longpoll._look
    failures = []

    def look_failing_once_in_the_watcher(numbers, since):
        if threading.current_thread().name == "callportal-next-watcher" and not failures:
            failures.append(1)
            raise OperationalError("the database went away for a moment")
        return real_look(numbers, since)

    with mock.patch.object(longpoll, "_look", look_failing_once_in_the_watcher):
        waiting = Waiting()
        waiting.wait_until_waiting()
        call = new_call()
        written_at = time.monotonic()

        assert waiting.join() == [call]
    # Released by the watcher's next look after its one-second pause, within the contract's
    # 1.5 s, long before the window's end.
    assert waiting.returned_at - written_at < 1.5
    assert failures
    assert "look failed (OperationalError)" in caplog.text
    assert "went away" not in caplog.text  # the error's text may carry query values
