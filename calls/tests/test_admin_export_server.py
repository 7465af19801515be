"""On the production server (gunicorn, gevent): a big admin CSV export does not stall the
worker. Every request of a gevent worker shares one thread; the export's rows written on it
would hold every other request of the worker until the last row (issue 19)."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest

from callportal.tests.live_gunicorn import running_gunicorn
from calls.resources import CallResource

# The setup copies its first call 29,999 times.
ROWS = 30_000

# The calls are copied in one statement from a first one: creating them one by one would
# take most of the test's time.
SETUP = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from calls.models import Call
get_user_model().objects.create_superuser("exporter", "", "export-pw-1")
first = Call.objects.create(caller_number="+442070000000", caller_name="Ada, \\"A\\"",
    called_number="8856", started_at=timezone.now() - timedelta(hours=1))
with connection.cursor() as cursor:
    cursor.execute('''
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 29999)
        INSERT INTO calls_call SELECT lower(hex(randomblob(16))), caller_number || i,
            caller_name, called_number, called_name, started_at, ended_at, direction,
            native_id, platform_call_id, keep, recording, recording_content_type, created_at,
            updated_at, delete_when_ended, delete_requested_by, recording_sha256
        FROM calls_call, n
    ''')
print(Call.objects.count())
"""


def csrf_token(page: bytes) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1).decode()


@pytest.mark.django_db
def test_other_requests_of_the_worker_are_answered_while_a_big_export_is_written(tmp_path):
    with running_gunicorn(tmp_path, ALLOWED_HOSTS="127.0.0.1") as server:
        assert server.manage("shell", "-c", SETUP).split()[-1] == str(ROWS)
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

        def post(path: str, form: dict[str, str]) -> Any:
            token = csrf_token(browser.open(server.base + path).read())
            return browser.open(
                urllib.request.Request(  # noqa: S310 - the test's own server, on loopback
                    server.base + path,
                    data=urlencode({"csrfmiddlewaretoken": token, **form}).encode(),
                    headers={"Referer": server.base + path},
                ),
                timeout=120,
            )

        post("/admin/login/", {"username": "exporter", "password": "export-pw-1"}).read()
        every_column = {f"callresource_{name}": "on" for name in CallResource.Meta.fields}
        download = post("/admin/calls/call/export/", {"format": "0", **every_column})
        assert download.status == 200
        body = [download.read(100)]  # the export has begun
        arrived = threading.Event()

        def read_the_rest() -> None:
            body.append(download.read())
            arrived.set()

        reader = threading.Thread(target=read_the_rest)
        reader.start()
        answered = 0
        # One worker: every probe is served by the worker that writes the export.
        while not arrived.is_set():
            with urllib.request.urlopen(f"{server.base}/healthz", timeout=60) as probe:  # noqa: S310
                assert probe.status == 200
            answered += 1
        reader.join()

    assert b"".join(body).count(b"\r\n") == ROWS + 1
    # On the loop, the first probe would have waited for the export's last row.
    assert answered >= 3, answered
