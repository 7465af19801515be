"""A webhook receiver on loopback for the tests, and an endpoint pointed at it.

The receiver is a real HTTP server in a thread: it records every request it gets (headers,
body, path) and answers with the statuses a test scripts (200 by default). Tests wait for
its requests with a timeout, never with a sleep.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.utils import timezone

from webhooks import destinations
from webhooks.models import Endpoint, Message
from webhooks.services import create_endpoint

# NOTIFY is PostgreSQL's: on SQLite that test is not collected at all (neither run nor
# reported as skipped), as the query-plan tests.
collect_ignore = [] if connections["default"].vendor == "postgresql" else ["test_notify.py"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int
    requests: queue.Queue[Received] = field(default_factory=queue.Queue)
    # Statuses to answer, in order; once used up, `status`.
    script: list[int] = field(default_factory=list)
    status: int = 200
    answer: bytes = b"ok"
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Set: requests are held (no answer) until it is cleared.
    hold: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/callportal"

    def next(self, timeout: float = 10) -> Received:
        return self.requests.get(timeout=timeout)

    def nothing_more(self, timeout: float = 0.3) -> bool:
        try:
            self.requests.get(timeout=timeout)
        except queue.Empty:
            return True
        return False


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.put(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if receiver.hold.is_set():
                receiver.release.wait(60)
            status = receiver.script.pop(0) if receiver.script else receiver.status
            self.send_response(status)
            for name, value in receiver.extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(receiver.answer)))
            self.end_headers()
            self.wfile.write(receiver.answer)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(port=server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found, server = start_receiver()
    try:
        yield found
    finally:
        found.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def resolver(monkeypatch):
    """A resolver under the test's control: name → addresses (as getaddrinfo gives them)."""
    table: dict[str, list[str]] = {}
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in table[host]
        ]

    monkeypatch.setattr(destinations, "resolve_name", getaddrinfo)
    getaddrinfo.table = table
    getaddrinfo.asked = asked
    return getaddrinfo


@pytest.fixture
def loopback_allowed(settings):
    """The test receiver is plain HTTP on loopback: both allowed, as WEBHOOK_ALLOW_HTTP and
    WEBHOOK_ALLOW_PRIVATE would allow them."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def endpoint(db, receiver, loopback_allowed) -> Endpoint:
    created = create_endpoint(receiver.url)
    created.endpoint.plain_secret = created.secret  # type: ignore[attr-defined]
    return created.endpoint


def events(call_id: uuid.UUID | str | None = None) -> list[str]:
    """The event types written to the outbox (for one call), in order."""
    rows = Message.objects.order_by("pk")
    if call_id is not None:
        rows = rows.filter(call_id=call_id)
    return list(rows.values_list("event_type", flat=True))


class Clock:
    """An injected clock: tests move it instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)
