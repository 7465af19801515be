"""A call's recording transcoded for download, with a small cache in each process.

Why a cache: a client that resumes a download, or a player that seeks, asks for byte ranges
of the same transcoded file again and again, and transcoding costs about a second per five
minutes of audio. Transcoded files are kept in memory, least recently used first out, up to
ENCODED_CACHE_BYTES per process; a file larger than a quarter of that is transcoded per
request (to a temporary file that spills to disk) and never cached.

Why in memory and not in storage beside the recording: nothing is written that would have to
be found and deleted with the recording (a deleted call's audio must not linger in a cache
file), nothing goes stale when a recording is replaced (the key holds the stored file's
name and size, and a replacement gets a new name), and there are no half-written files to
guard against. The output is byte-for-byte deterministic (recordings/audio.py), so a range
answered by another process, or after an eviction, fits the bytes the client already has.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.db.models.fields.files import FieldFile

from recordings import audio

# Transcoded output below this size stays in memory while it is served; above, on disk.
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class EncodedRecording:
    size: int
    # Opens the transcoded bytes, positioned at the start; the caller closes it.
    open: Callable[[], IO[bytes]]


class _Cache:
    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str]) -> bytes | None:
        with self._lock:
            content = self._entries.get(key)
            if content is not None:
                self._entries.move_to_end(key)
            return content

    def put(self, key: tuple[str, int, str], content: bytes, limit: int) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = content
            self._bytes += len(content)
            while self._bytes > limit:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


cache = _Cache()


def encoded_recording(recording: FieldFile, fmt: audio.AudioFormat) -> EncodedRecording:
    """A call's stored recording in `fmt`, from the cache or transcoded now.

    Raises what reading the recording raises: audio.UndecodableRecording, or OSError
    (FileNotFoundError) when the stored file is gone.
    """
    key = (recording.name, recording.size, fmt.name)
    cached = cache.get(key)
    if cached is not None:
        return _in_memory(cached)
    limit = settings.ENCODED_CACHE_BYTES
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    try:
        with recording.open("rb") as source:
            audio.transcode(source, fmt, out)
        size = out.seek(0, io.SEEK_END)
        if size <= limit // 4:
            out.seek(0)
            content = out.read()
            out.close()
            cache.put(key, content, limit)
            return _in_memory(content)
    except BaseException:
        out.close()
        raise
    return EncodedRecording(size=size, open=_once(out))


def encoded_segment(
    recording: FieldFile, fmt: audio.AudioFormat, start: float, end: float
) -> EncodedRecording:
    """The part [start, end) seconds of the call's recording in `fmt`, transcoded now
    (segments are small and rarely asked twice). Raises audio.OutsideRecording when `start`
    is at or after the end of the recording, else as encoded_recording."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    try:
        with recording.open("rb") as source:
            audio.transcode(source, fmt, out, start=start, end=end)
        size = out.seek(0, io.SEEK_END)
    except BaseException:
        out.close()
        raise
    return EncodedRecording(size=size, open=_once(out))


def _in_memory(content: bytes) -> EncodedRecording:
    return EncodedRecording(size=len(content), open=lambda: io.BytesIO(content))


def _once(out: IO[bytes]) -> Callable[[], IO[bytes]]:
    def open_body() -> IO[bytes]:
        out.seek(0)
        return out

    return open_body
