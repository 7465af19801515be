"""The GetCallURL lookups, independent of HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.selectors import Status, calls_by_status, last_calls, ongoing_calls
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def test_ongoing_returns_at_most_two_calls(django_assert_num_queries):
    started = timezone.now() - timedelta(minutes=1)
    CallFactory.create_batch(3, called_number="100", started_at=started, ended_at=None)
    with django_assert_num_queries(1):
        assert len(ongoing_calls("100")) == 2


def test_last_picks_the_latest_end_across_both_columns(django_assert_num_queries):
    now = timezone.now()
    CallFactory(
        caller_number="100", started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=1)
    )
    latest = CallFactory(
        called_number="100",
        started_at=now - timedelta(minutes=9),
        ended_at=now - timedelta(minutes=8),
    )
    with django_assert_num_queries(1):
        assert last_calls("100") == [latest]


def test_last_reports_a_shared_latest_end_as_two_calls():
    ended = timezone.now() - timedelta(minutes=1)
    a = CallFactory(caller_number="100", started_at=ended - timedelta(minutes=1), ended_at=ended)
    b = CallFactory(called_number="100", started_at=ended - timedelta(minutes=2), ended_at=ended)
    assert set(last_calls("100")) == {a, b}


def test_statuses_stop_at_the_first_that_finds_something():
    finished = CallFactory(called_number="100")
    found = calls_by_status("100", [Status.ONGOING, Status.LAST], arrived_at=timezone.now())
    assert found == [finished]
    assert calls_by_status("999", [Status.ONGOING, Status.LAST], arrived_at=timezone.now()) == []
