"""On the production server (gunicorn, gevent): an upload whose body stops arriving ends."""

from __future__ import annotations

import socket
import time

import pytest

from callportal.tests.live_gunicorn import running_gunicorn

SETUP = """
from django.utils import timezone
from apikeys.services import create_api_key
from calls.models import Call
call = Call.objects.create(caller_number="+4420700", called_number="8856",
                           started_at=timezone.now())
print(create_api_key("stalling recorder", can_ingest=True, can_query=False)[1], call.pk)
"""


@pytest.mark.django_db
def test_an_upload_that_stops_arriving_is_answered_408_after_the_body_timeout(tmp_path):
    with running_gunicorn(
        tmp_path, MEDIA_ROOT=str(tmp_path / "media"), REQUEST_BODY_TIMEOUT_SECONDS="1"
    ) as server:
        key, call_id = server.manage("shell", "-c", SETUP).strip().splitlines()[-1].split()
        head = (
            f"PUT /api/v1/calls/{call_id}/recording HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Api-Key: {key}\r\nContent-Type: audio/wav\r\nContent-Length: 100000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
            client.sendall(head.encode() + b"RIFF\x24\x00\x00\x00WAVEfmt ")
            sent = time.monotonic()
            # Then nothing more: the recorder's link died.
            answer = client.recv(65536)
            waited = time.monotonic() - sent
            while b"}" not in answer and (more := client.recv(65536)):
                answer += more

    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stopped arriving" in answer
    assert waited < 20
