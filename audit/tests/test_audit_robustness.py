"""The buffered audit trail survives hostile values and failing batches: no request's row
is lost because another request in the same batch could not be written."""

import time

import pytest
import time_machine

from audit import services
from audit.models import ApiRequest

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for_rows(count: int, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while ApiRequest.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def background_flush(settings):
    services.flush()  # nothing left over from earlier tests
    settings.AUDIT_FLUSH_SECONDS = 0.2
    settings.AUDIT_FLUSH_ROWS = 1000
    yield
    settings.AUDIT_FLUSH_SECONDS = 0
    services.flush()


def test_a_nul_in_the_action_loses_no_row_of_its_batch(client, background_flush):
    client.get("/verba/api", {"action": "GetCallURL"})
    client.get("/verba/api", {"action": "x\x00y"})
    client.get("/verba/api", {"action": "RequestToken"})

    _wait_for_rows(3)

    assert sorted(ApiRequest.objects.values_list("action", "result_code")) == [
        ("(unknown)", 1),
        ("GetCallURL", 4),
        ("RequestToken", 4),
    ]


def test_control_characters_in_an_unknown_action_are_replaced_in_the_answer(client):
    response = client.get("/verba/api", {"action": "a\x01b\x1fc\x0b", "responseType": "JSON"})

    assert response.json()["type"] == "a\ufffdb\ufffdc\ufffd"
    assert ApiRequest.objects.get().action == "(unknown)"


def test_the_flusher_carries_on_after_a_batch_fails_unexpectedly(
    client, background_flush, monkeypatch
):
    real_write = services._write
    failures = []

    def write_failing_once(rows):
        if not failures:
            failures.append(len(rows))
            raise RuntimeError("a bug, not the database")
        real_write(rows)

    monkeypatch.setattr(services, "_write", write_failing_once)
    client.get("/verba/api", {"action": "GetCallURL"})
    _wait_for_rows(1)
    client.get("/verba/api", {"action": "RequestToken"})
    _wait_for_rows(2)

    assert failures == [1]
    # The failed batch is written again row by row, so it is not lost either.
    assert sorted(ApiRequest.objects.values_list("action", flat=True)) == [
        "GetCallURL",
        "RequestToken",
    ]
    assert services.writer._thread is not None and services.writer._thread.is_alive()


def test_a_row_the_database_refuses_is_dropped_alone(client, background_flush, monkeypatch):
    real_write = services._write

    def refuse_the_poisoned_row(rows):
        if any(row["action"] == "Poisoned" for row in rows):
            raise ValueError("the driver refuses this row")
        real_write(rows)

    monkeypatch.setattr(services, "_write", refuse_the_poisoned_row)
    services.writer.add(
        {**_row(), "action": "Poisoned"}
    )  # as if a future field slipped past the cleaning
    client.get("/verba/api", {"action": "GetCallURL"})
    client.get("/verba/api", {"action": "RequestToken"})
    _wait_for_rows(2)
    time.sleep(0.3)  # give a wrongly kept poisoned row the chance to show up

    assert sorted(ApiRequest.objects.values_list("action", flat=True)) == [
        "GetCallURL",
        "RequestToken",
    ]
    assert services.writer.pending() == 0
    assert services.writer._thread is not None and services.writer._thread.is_alive()


def test_the_flusher_loop_survives_an_error_outside_the_batch(
    client, background_flush, monkeypatch
):
    calls = []
    real_close_all = services.connections.close_all

    def close_all_failing_once():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("closing connections failed")
        real_close_all()

    monkeypatch.setattr(services.connections, "close_all", close_all_failing_once)
    client.get("/verba/api", {"action": "GetCallURL"})
    _wait_for_rows(1)
    thread = services.writer._thread
    time.sleep(0.3)  # the failed close happens right after the first batch
    client.get("/verba/api", {"action": "RequestToken"})
    _wait_for_rows(2)

    assert calls
    assert ApiRequest.objects.count() == 2
    assert services.writer._thread is thread and thread.is_alive()


def _row() -> dict:
    from django.utils import timezone

    return {
        "at": timezone.now(),
        "action": "",
        "api_key_id": None,
        "user_id": None,
        "client_address": None,
        "result_code": 1,
        "call_id": None,
        "duration_ms": 0,
    }


def test_the_flusher_keeps_writing_after_a_test_travelled_in_time(client, background_flush):
    # time-machine patches time.monotonic; a flush timed by the travelled clock must not
    # leave the flusher waiting for that far-off moment to come round again.
    with time_machine.travel("2031-01-01 00:00:00+00:00"):
        client.get("/verba/api", {"action": "GetCallURL"})
        _wait_for_rows(1)
    client.get("/verba/api", {"action": "RequestToken"})
    _wait_for_rows(2)

    assert ApiRequest.objects.count() == 2
