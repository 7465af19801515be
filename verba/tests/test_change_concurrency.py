"""Concurrent changes of one call, each request on its own thread and database connection
(as two app-server threads would be), against the real database."""

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from calls import markers as marker_service
from calls.models import Call, Marker, MetadataField, MetadataValue
from calls.tests.factories import CallFactory
from verba.tests.change_helpers import code_of

pytestmark = pytest.mark.django_db(transaction=True)

# How long a request that has checked for overlaps waits for the other to check too.
RACE_WINDOW_SECONDS = 3


def run_in_threads(targets):
    results = [None] * len(targets)
    errors = []

    def worker(index):
        try:
            results[index] = targets[index]()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def add_marker(key, call, name, start, end):
    def send():
        response = Client().get(
            "/verba/api",
            {
                "action": "AddMarker",
                "apiKey": key,
                "callID": str(call.pk),
                "mname": name,
                "mstart": start,
                "mend": end,
            },
        )
        return code_of(response)

    return send


def test_two_concurrent_overlapping_markers_leave_exactly_one(change_key, monkeypatch):
    start = timezone.now() - timedelta(hours=1)
    call = CallFactory(started_at=start, ended_at=start + timedelta(seconds=100))
    # Widen the race: a request that has looked for overlaps waits until the other request
    # has looked too. Under the call's row lock the other cannot get there, so the wait
    # ends at the window and the requests run one after the other; without the lock, both
    # would see no overlap and both would insert.
    both_checked = threading.Barrier(2, timeout=RACE_WINDOW_SECONDS)
    original = marker_service._overlapping

    def overlapping_after_the_other_checked(*args, **kwargs):
        found = original(*args, **kwargs)
        exists = found.exists()
        with contextlib.suppress(threading.BrokenBarrierError):
            both_checked.wait()
        return found if exists else found.none()

    monkeypatch.setattr(marker_service, "_overlapping", overlapping_after_the_other_checked)

    codes = run_in_threads(
        [
            add_marker(change_key, call, "Sale", "10", "30"),
            add_marker(change_key, call, "Refund", "20", "40"),
        ]
    )

    assert sorted(codes) == [0, 1]
    assert Marker.objects.filter(call=call).count() == 1


def test_concurrent_keep_marker_and_metadata_requests_lose_no_update(change_key):
    start = timezone.now() - timedelta(hours=1)
    call = CallFactory(started_at=start, ended_at=start + timedelta(seconds=100))
    MetadataField.objects.create(identifier="ticket", label="Ticket")

    def keep():
        response = Client().get(
            "/verba/api", {"action": "KeepCall", "apiKey": change_key, "callID": str(call.pk)}
        )
        return code_of(response)

    def attach():
        response = Client().get(
            "/verba/api",
            {
                "action": "AttachMetaData",
                "apiKey": change_key,
                "callID": str(call.pk),
                "ticket": "T-1",
            },
        )
        return code_of(response)

    targets = [keep, attach] + [
        add_marker(change_key, call, f"M{n}", str(n * 10), str(n * 10 + 5)) for n in range(4)
    ]

    assert run_in_threads(targets) == [0] * len(targets)

    assert Call.objects.get(pk=call.pk).keep is True
    assert Marker.objects.filter(call=call).count() == 4
    assert MetadataValue.objects.get(call=call).value == "T-1"
