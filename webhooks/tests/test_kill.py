"""A kill -9 of the app server between the commit of a change and its delivery loses no event.

The README's server (gunicorn.conf.py, gevent workers, the deliverer in each worker) writes
calls sent to the ingestion API; the receiver takes the webhooks but holds them without an
answer, so every one of them is between commit and delivery when the master and its worker
are killed with SIGKILL. A new server on the same database sends every event (some of them
a second time, with the same `webhook-id`: at least once), each verified with the
standardwebhooks package.
"""

import json
import os
import signal
import sqlite3
import urllib.request
import uuid
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from callportal.tests.live_gunicorn import running_gunicorn
from webhooks.tests.conftest import start_receiver

CALLS = 10
SETTINGS = {
    "WEBHOOK_ALLOW_HTTP": "on",
    "WEBHOOK_ALLOW_PRIVATE": "on",
    "WEBHOOK_POLL_SECONDS": "0.2",
    # Held deliveries of the killed server are sent again once their lease runs out.
    "WEBHOOK_LEASE_SECONDS": "6",
}


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def post_call(base: str, key: str, call_id: str) -> None:
    body = json.dumps(
        {
            "id": call_id,
            "caller_number": "+442071234567",
            "called_number": "8856",
            "started_at": "2026-12-07T10:15:00Z",
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/v1/calls",
        data=body,
        headers={"Content-Type": "application/json", "X-Api-Key": key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201


def test_no_event_is_lost_when_the_server_is_killed_between_commit_and_delivery(tmp_path):
    receiver, http = start_receiver()
    receiver.hold.set()  # no answers: every delivery stays in flight
    posted = [str(uuid.uuid4()) for _ in range(CALLS)]
    try:
        with running_gunicorn(tmp_path, **SETTINGS) as first:
            secret = first.manage("add_webhook", receiver.url).strip()
            key = first.manage("create_api_key", "PBX", "--ingest", "--no-query").strip()
            for call_id in posted:
                post_call(first.base, key, call_id)
            # The first delivery has reached the receiver, unanswered: kill -9 now.
            before = receiver.next(timeout=30)
            assert first.process is not None
            workers = children(first.process.pid)
            os.kill(first.process.pid, signal.SIGKILL)
            for worker in workers:
                os.kill(worker, signal.SIGKILL)
            first.process.wait(timeout=10)

        # Every event is committed; none was answered.
        with sqlite3.connect(tmp_path / "server.sqlite3") as database:
            states = database.execute("SELECT state FROM webhooks_delivery").fetchall()
        assert states == [("pending",)] * CALLS

        receiver.hold.clear()
        receiver.release.set()
        seen: dict[str, set[str]] = {}
        with running_gunicorn(tmp_path, **SETTINGS):
            while set(seen) != set(posted):
                got = receiver.next(timeout=60)
                payload = Webhook(secret).verify(got.body, got.headers)
                assert payload["type"] == "call.started"
                seen.setdefault(payload["data"]["id"], set()).add(got.headers["webhook-id"])
        # One message per call, however often it was sent.
        assert all(len(ids) == 1 for ids in seen.values())
        assert before.headers["webhook-id"] in {i for ids in seen.values() for i in ids}
    finally:
        receiver.release.set()
        http.shutdown()
        http.server_close()


def test_the_app_server_sends_an_event_right_after_its_commit(tmp_path):
    """The server's deliverer is woken by the commit: with a minute between its own looks
    for due deliveries, the event still arrives at once."""
    receiver, http = start_receiver()
    try:
        with running_gunicorn(tmp_path, **{**SETTINGS, "WEBHOOK_POLL_SECONDS": "60"}) as server:
            secret = server.manage("add_webhook", receiver.url).strip()
            key = server.manage("create_api_key", "PBX", "--ingest", "--no-query").strip()
            call_id = str(uuid.uuid4())

            post_call(server.base, key, call_id)

            got = receiver.next(timeout=20)
            assert Webhook(secret).verify(got.body, got.headers)["data"]["id"] == call_id
    finally:
        http.shutdown()
        http.server_close()
