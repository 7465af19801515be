"""The access log survives `kill -9`: the README's server (gunicorn) is killed while a
recording is on the wire, and the download's event is found committed afterwards."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import sqlite3
import uuid
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callportal.tests.live_gunicorn import Server, running_gunicorn

# Long enough that the server is still sending when it dies: far beyond what the loopback
# socket's buffers hold (a few megabytes), so most of it is never sent.
RECORDING_SECONDS = 20 * 60


def silent_wav(seconds: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(2 * 8000 * seconds))
    return buffer.getvalue()


def request(server: Server, method: str, path: str, body: bytes = b"", **headers: str):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(method, path, body=body or None, headers=headers)
    return connection, connection.getresponse()


def ingest_call(server: Server, key: str) -> uuid.UUID:
    """A call and its recording, through the ingestion API."""
    call_id = uuid.uuid4()
    now = datetime.now(UTC)
    body = {
        "id": str(call_id),
        "caller_number": "+442071234567",
        "called_number": "8856",
        "started_at": (now - timedelta(seconds=RECORDING_SECONDS + 60)).isoformat(),
        "ended_at": now.isoformat(),
        "direction": "inbound",
    }
    _, created = request(
        server,
        "POST",
        "/api/v1/calls",
        json.dumps(body).encode(),
        **{"X-Api-Key": key, "Content-Type": "application/json"},
    )
    assert created.status == 201, created.read()
    recording = silent_wav(RECORDING_SECONDS)
    _, stored = request(
        server,
        "PUT",
        f"/api/v1/calls/{call_id}/recording",
        recording,
        **{"X-Api-Key": key, "Content-Type": "audio/wav", "Content-Length": str(len(recording))},
    )
    assert stored.status == 201, stored.read()
    return call_id


def kill_9(server: Server) -> None:
    """SIGKILL to gunicorn's workers and its master: nothing runs a line more."""
    assert server.process is not None
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in [*map(int, children), master]:
        os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def events(database: Path) -> list[tuple]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT kind, call_id, user, api_key, surface FROM access_log_accessevent"
        ).fetchall()


def test_a_download_cut_short_by_kill_9_is_in_the_access_log(tmp_path):
    database = tmp_path / "server.sqlite3"
    with running_gunicorn(tmp_path, MEDIA_ROOT=str(tmp_path / "media")) as server:
        recorder = server.manage("create_api_key", "Recorder", "--ingest", "--no-query").strip()
        crm = server.manage("create_api_key", "CRM").strip()
        call_id = ingest_call(server, recorder)
        assert events(database) == []

        connection, answer = request(
            server, "GET", f"/verba/api?action=GetMedia&callID={call_id}", **{"X-Api-Key": crm}
        )
        assert answer.status == 200
        size = int(answer.headers["Content-Length"])
        first = answer.read(4096)
        assert first.startswith(b"RIFF")

        kill_9(server)

        received = len(first)
        try:
            while chunk := answer.read(65536):
                received += len(chunk)
        except (http.client.IncompleteRead, ConnectionError):
            pass
        connection.close()

    # The server died with most of the recording unsent; its event was committed first.
    assert received < size // 2
    assert events(database) == [("download", call_id.hex, "", "CRM", "api")]
