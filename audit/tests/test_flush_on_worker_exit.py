"""Audit rows still in a worker's buffer are written when the worker stops.

The README's server (gunicorn.conf.py, gevent workers) is started with a flush interval of
an hour, so the rows of its requests stay in memory; a graceful stop (SIGTERM to the
master, as a deploy, restart or scale-down sends) must write them before the worker goes.
"""

import sqlite3
import urllib.request

from callportal.tests.live_gunicorn import running_gunicorn


def audit_rows(database: str) -> list[tuple[str, int]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT action, result_code FROM audit_apirequest ORDER BY id"
        ).fetchall()


def test_a_graceful_stop_writes_the_buffered_audit_rows(tmp_path):
    database = tmp_path / "server.sqlite3"
    with running_gunicorn(
        tmp_path, AUDIT_FLUSH_SECONDS="3600", AUDIT_FLUSH_ROWS="100000"
    ) as server:
        key = server.manage("create_api_key", "Buffered").strip()
        for _ in range(3):
            with urllib.request.urlopen(  # noqa: S310 - loopback
                f"{server.base}/verba/api?action=GetCallURL&responseType=TEXT"
                f"&apiKey={key}&callID=nope",
                timeout=10,
            ) as answer:
                assert answer.read().startswith(b"ERROR 1:")  # a malformed callID
        # Still buffered: nothing has reached the table yet.
        assert audit_rows(str(database)) == []

        assert server.stop() == 0

    # The three requests, after the probe that waited for the server to start.
    assert audit_rows(str(database))[-3:] == [("GetCallURL", 1)] * 3
