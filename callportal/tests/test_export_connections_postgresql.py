"""A slow client downloading the admin's CSV export holds none of the worker's pooled
database connections (issue 19): the rows are read ahead of it, and every connection goes
back to the pool once they are. Collected on PostgreSQL only (see conftest.py): SQLite runs
without a pool."""

import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.urls import reverse

from calls.resources import CallResource
from calls.tests.factories import CallFactory

EXPORT_URL = reverse("admin:calls_call_export")
EVERY_COLUMN = {
    "format": "0",
    **{f"callresource_{name}": "on" for name in CallResource.Meta.fields},
}


def checked_out() -> int:
    from dj_db_conn_pool.core import pool_container

    return pool_container.get(connection.alias).checkedout()


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the export never gave its connections back"
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_paused_export_download_holds_no_pooled_database_connection(
    admin_client, media_root, monkeypatch
):
    monkeypatch.setattr("calls.resources.EXPORT_CHUNK_ROWS", 10)
    CallFactory.create_batch(60)

    response = admin_client.post(EXPORT_URL, EVERY_COLUMN)
    pieces = iter(response.streaming_content)
    first = next(pieces)
    # The client reads no further for now: every connection goes back to the pool.
    wait_for(lambda: checked_out() == 0)

    body = first + b"".join(pieces)
    assert body.count(b"\r\n") == 61
