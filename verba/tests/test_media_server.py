"""On the production server (gunicorn, gevent): a transcode does not stall the worker.

Every request of a gevent worker shares one thread; a transcode run on it would hold every
other request of the worker until it ends (issue 19: /healthz waited up to 34.5 s).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from callportal.tests.live_gunicorn import running_gunicorn

# Ten minutes of a tone: several seconds of MP3 encoding on a loaded 2-core machine.
SETUP = """
import array, io, math, wave
from datetime import timedelta
from django.utils import timezone
from apikeys.services import create_api_key
from calls.models import Call
from calls.services import store_recording
rate = 8000
second = array.array("h", [int(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(rate)])
out = io.BytesIO()
with wave.open(out, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
    w.writeframes(second.tobytes() * 600)
out.seek(0)
start = timezone.now() - timedelta(hours=1)
call = Call.objects.create(caller_number="+4420700", called_number="8856", started_at=start,
                           ended_at=start + timedelta(minutes=10))
store_recording(call, out, "audio/wav")
print(create_api_key("media server test")[1], call.pk)
"""


def fetch(url: str, timeout: float = 120) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - loopback
        return answer.status, answer.read()


@pytest.mark.django_db
def test_other_requests_of_the_worker_are_answered_while_a_long_recording_is_transcoded(
    tmp_path,
):
    with running_gunicorn(tmp_path, MEDIA_ROOT=str(tmp_path / "media")) as server:
        key, call_id = server.manage("shell", "-c", SETUP).strip().splitlines()[-1].split()
        url = f"{server.base}/verba/api?" + urlencode(
            {"action": "GetMediaEncoded", "apiKey": key, "callID": call_id, "format": "mp3"}
        )
        answer: list[tuple[int, bytes]] = []
        began = time.monotonic()
        download = threading.Thread(target=lambda: answer.append(fetch(url)))
        download.start()
        waits = []
        # One worker: every probe is served by the worker that transcodes.
        while download.is_alive():
            asked = time.monotonic()
            status, _ = fetch(f"{server.base}/healthz", timeout=60)
            waits.append(time.monotonic() - asked)
            assert status == 200
        download.join()
        took = time.monotonic() - began

    status, body = answer[0]
    assert status == 200 and body[:3] == b"ID3"
    # The transcode must be long enough for a stall to show.
    assert took > 1.0, took
    # On the loop, one probe would have waited nearly the whole transcode.
    assert max(waits) < took / 3, (max(waits), took)
    assert len(waits) > 3
