"""Events from the paths that commit on their own, so these tests commit for real.

- The import command writes on a thread with its own connection, as in production; each
  batch writes its events in its transaction (on PostgreSQL the batch goes through COPY
  and one INSERT … ON CONFLICT statement; on SQLite through the portable path).
- The admin stores an uploaded recording once its own transaction has committed the call.
"""

import io
import json
import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav
from webhooks.models import Message
from webhooks.tests.conftest import events
from webhooks.tests.test_events import change_form

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("endpoint", "media_root"),
]

HEADER = "id,caller_number,called_number,started_at,ended_at,caller_name\n"


def import_file(tmp_path, text: str) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(text)
    call_command("import_calls", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def test_the_import_command_raises_started_ended_and_updated(tmp_path):
    ongoing, finished = uuid.uuid4(), uuid.uuid4()
    header = HEADER
    import_file(
        tmp_path,
        header
        + f"{ongoing},+1555,8856,2026-11-26T10:00:00Z,,\n"
        + f"{finished},+1556,8856,2026-11-26T10:00:00Z,2026-11-26T10:05:00Z,\n",
    )
    import_file(
        tmp_path,
        header
        + f"{ongoing},+1555,8856,2026-11-26T10:00:00Z,2026-11-26T10:07:00Z,\n"
        + f"{finished},+1556,8856,2026-11-26T10:00:00Z,2026-11-26T10:05:00Z,Ada\n",
    )
    # The same file again changes nothing and raises nothing.
    import_file(
        tmp_path,
        header
        + f"{ongoing},+1555,8856,2026-11-26T10:00:00Z,2026-11-26T10:07:00Z,\n"
        + f"{finished},+1556,8856,2026-11-26T10:00:00Z,2026-11-26T10:05:00Z,Ada\n",
    )

    assert events(ongoing) == ["call.started", "call.ended"]
    assert events(finished) == ["call.ended", "call.updated"]
    updated = Message.objects.get(call_id=finished, event_type="call.updated")
    assert json.loads(updated.body)["data"]["ended_at"] == "2026-11-26T10:05:00.000Z"


def test_an_admin_recording_upload_and_removal_raise_recording_ready_and_updated(admin_client):
    call = CallFactory(started_at=timezone.now().replace(microsecond=0) - timedelta(hours=1))
    url = reverse("admin:calls_call_change", args=[call.pk])
    upload = SimpleUploadedFile("call.wav", tone_wav(0.2), content_type="audio/wav")

    admin_client.post(url, {**change_form(call), "new_recording": upload})
    admin_client.post(url, change_form(call, remove_recording="on"))

    assert events(call.pk) == ["call.recording_ready", "call.updated"]
