"""calls.services: the one write path for calls, whoever writes them."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from calls import services
from calls.models import Call
from calls.tests.factories import CallFactory

CALL_ID = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")


def new_fields(**overrides):
    fields = {
        "caller_number": "100",
        "called_number": "8856",
        "started_at": timezone.now().replace(microsecond=0) - timedelta(minutes=1),
    }
    return {**fields, **overrides}


@pytest.mark.django_db
def test_upsert_creates_then_updates_only_the_given_fields():
    created = services.upsert_call(CALL_ID, new_fields(caller_name="Ada"))
    updated = services.upsert_call(CALL_ID, {"keep": True})

    assert (created.created, updated.created) == (True, False)
    call = Call.objects.get(pk=CALL_ID)
    assert call.keep is True
    assert call.caller_name == "Ada"


@pytest.mark.django_db
def test_an_identical_replay_writes_nothing():
    services.upsert_call(CALL_ID, new_fields())
    before = Call.objects.get(pk=CALL_ID).updated_at

    replay = services.upsert_call(CALL_ID, new_fields())

    assert replay.changed is False
    assert Call.objects.get(pk=CALL_ID).updated_at == before


@pytest.mark.django_db
def test_a_new_call_needs_both_numbers_and_a_start():
    with pytest.raises(ValidationError) as error:
        services.upsert_call(CALL_ID, {"caller_name": "Ada"})

    assert set(error.value.message_dict) == {"caller_number", "called_number", "started_at"}
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_moving_the_start_after_the_stored_end_names_the_start():
    call = CallFactory()

    with pytest.raises(ValidationError) as error:
        services.upsert_call(call.pk, {"started_at": call.ended_at + timedelta(seconds=1)})

    assert list(error.value.message_dict) == ["started_at"]


@pytest.mark.django_db
def test_a_write_announces_the_call_to_long_polls_after_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    announced = []
    monkeypatch.setattr("longpoll.watcher.announce", announced.append)

    with django_capture_on_commit_callbacks(execute=True):
        services.upsert_call(CALL_ID, new_fields())
        assert announced == []  # not before the commit: a waiter could not read it yet

    assert [call.pk for call in announced] == [CALL_ID]


@pytest.mark.django_db
def test_a_replay_that_changes_nothing_announces_nothing(
    monkeypatch, django_capture_on_commit_callbacks
):
    # The same values twice (new_fields() reads the clock: a second may pass in between).
    fields = new_fields()
    services.upsert_call(CALL_ID, fields)
    announced = []
    monkeypatch.setattr("longpoll.watcher.announce", announced.append)

    with django_capture_on_commit_callbacks(execute=True):
        services.upsert_call(CALL_ID, dict(fields))

    assert announced == []


@pytest.mark.django_db(transaction=True)
def test_many_writers_of_one_new_id_make_one_call_and_one_creation():
    barrier = threading.Barrier(4)
    results, errors = [], []

    def write(n):
        try:
            barrier.wait()
            results.append(services.upsert_call(CALL_ID, new_fields(caller_name=f"W{n}")))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert Call.objects.count() == 1


@pytest.mark.django_db
def test_bulk_upsert_counts_created_updated_and_unchanged():
    started = timezone.now().replace(microsecond=0)
    same = CallFactory(caller_number="1", called_number="2", started_at=started)
    other = CallFactory(caller_number="1", called_number="2", started_at=started)
    fields = ("caller_number", "called_number", "started_at")
    rows = [
        {"id": same.pk, "caller_number": "1", "called_number": "2", "started_at": started},
        {"id": other.pk, "caller_number": "9", "called_number": "2", "started_at": started},
        {"id": CALL_ID, "caller_number": "1", "called_number": "2", "started_at": started},
    ]

    result = services.bulk_upsert_calls(rows, fields)

    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    assert Call.objects.get(pk=other.pk).caller_number == "9"
    assert Call.objects.get(pk=CALL_ID).caller_name == ""
    assert Call.objects.get(pk=other.pk).native_id == other.native_id
