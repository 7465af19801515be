from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from calls.models import Call
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_call_that_ends_before_it_starts():
    now = timezone.now()

    with pytest.raises(IntegrityError), transaction.atomic():
        CallFactory(started_at=now, ended_at=now - timedelta(seconds=1))


def test_the_database_refuses_an_empty_number():
    with pytest.raises(IntegrityError), transaction.atomic():
        CallFactory(caller_number="")


def test_a_call_without_an_end_is_in_progress_and_its_duration_runs():
    with time_machine.travel("2026-11-26 10:00:00+00:00", tick=False) as clock:
        call = CallFactory(started_at=timezone.now(), ended_at=None)
        clock.shift(timedelta(seconds=90))

        assert call.in_progress
        assert call.duration == timedelta(seconds=90)


def test_a_finished_call_has_a_fixed_duration():
    call = CallFactory()

    assert not call.in_progress
    assert call.duration == timedelta(minutes=5)


def test_lookups_by_number_and_time_have_indexes_on_both_number_columns():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Call._meta.db_table)
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}

    for column in ("caller_number", "called_number"):
        assert (column, "ended_at") in indexed
        assert (column, "started_at") in indexed
    assert ("started_at",) in indexed
