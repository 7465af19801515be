"""Audio work off the event loop, and its bound per worker process.

Decoding and encoding audio is CPU work that takes seconds (a 30-minute recording to MP3:
about 3 s; a two-hour one: about 12 s). On a gevent worker's loop it would freeze every
other request of the worker for that long, so every transcode, cut and waveform runs on
the CPU pool (shared/cpu_pool.py), holding one of this process's slots, and reads a local
file: a recording in an S3 bucket is first copied to a temporary file by the request itself
(network waits are cooperative there; a pool thread must not use the request's sockets).

At most AUDIO_WORK_MAX pieces of audio work run at once per worker process. One more is
refused at once with Busy, which the transports answer as "busy, retry" (code 9 / HTTP 503
with Retry-After): a clear answer, where queueing would hold a request for minutes behind
other transcodes and end in a timeout.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db.models.fields.files import FieldFile

from recordings import audio
from recordings.serving import (
    CHUNK_BYTES,
    WAVEFORM_COLOURS,
    WAVEFORM_HEIGHT,
    WAVEFORM_WIDTH,
    open_recording,
)
from shared import cpu_pool
from shared.connections import give_back_connection

# What a busy answer asks the client to wait: about one transcode of a long recording.
RETRY_AFTER_SECONDS = 10


class Busy(Exception):
    """AUDIO_WORK_MAX pieces of audio work already run in this process: try again later."""

    retry_after = RETRY_AFTER_SECONDS


class _Slots:
    """How many pieces of audio work run now; never more than AUDIO_WORK_MAX."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0

    @contextmanager
    def taken(self) -> Iterator[None]:
        with self._lock:
            if self.running >= settings.AUDIO_WORK_MAX:
                raise Busy
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1


slots = _Slots()


@contextmanager
def local_path(recording: FieldFile) -> Iterator[str]:
    """A path on this machine from which the stored recording can be read.

    The file itself on local storage; from a bucket, a temporary copy made here (by the
    request, whose network waits let other requests run) and deleted afterwards.
    FileNotFoundError when the stored file is gone.
    """
    storage = recording.storage
    try:
        path = storage.path(recording.name or "")
    except NotImplementedError:
        path = None
    if path is not None:
        if not os.path.exists(path):
            raise FileNotFoundError(recording.name)
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="recording-") as copy:
        with open_recording(recording) as source:
            shutil.copyfileobj(source, copy, CHUNK_BYTES)
        copy.flush()
        yield copy.name


def waveform(
    recording: FieldFile,
    width: int,
    height: int,
    colours: audio.WaveformColours,
    *,
    max_seconds: float | None,
) -> bytes:
    """The recording's waveform PNG (audio.waveform), drawn on the CPU pool; Busy,
    TooLong, UndecodableRecording, OSError or cpu_pool.PoolTimeout otherwise."""
    give_back_connection()  # drawing can take seconds: no pooled connection waits for it
    with slots.taken(), local_path(recording) as path:
        return cpu_pool.run(_draw, path, width, height, colours, max_seconds)


def staff_waveform(recording: FieldFile, *, max_seconds: float | None) -> bytes:
    """The PNG drawn above the staff page's player, by the code that draws GetWaveform's."""
    return waveform(
        recording, WAVEFORM_WIDTH, WAVEFORM_HEIGHT, WAVEFORM_COLOURS, max_seconds=max_seconds
    )


def _draw(
    path: str,
    width: int,
    height: int,
    colours: audio.WaveformColours,
    max_seconds: float | None,
) -> bytes:
    with open(path, "rb") as source:
        return audio.waveform(source, width, height, colours, max_seconds)


def stated_seconds(recording: FieldFile) -> float | None:
    """The recording's length as its header states it (audio.stated_duration), read on the
    CPU pool; None when the header states none, or the file cannot be read or opened now
    (the call page then places its markers by the call's length, as before)."""
    try:
        with open_recording(recording) as source:
            return cpu_pool.run(audio.stated_duration, source)
    except (audio.UndecodableRecording, OSError, cpu_pool.PoolTimeout):
        return None
