"""A stored recording transcoded for download (GetMediaEncoded) or cut (GetMediaSegment).

Transcoding runs on the CPU pool within the bound of recordings/work.py (Busy when this
process already runs AUDIO_WORK_MAX pieces of audio work).

Transcoded downloads are kept in the recording's own storage, under `encoded/`: on the media
disk or in the bucket, so every worker and app server shares them, whatever their size, and
a recording is transcoded to a format once. A client that resumes a download, or a player
that seeks, asks for ranges of the same file again and again; with the copy kept, the second
round of a transcode costs a file read. Concurrent requests for the same recording and
format in one process share one transcode: the first does the work, the others wait for it.

- Stale copies: a copy's name holds the recording's stored name and size and the format. A
  replacement recording is stored under a new name (or has another size), so it never
  meets its predecessor's copy.
- Deleted recordings: a recording file is deleted through delete_recording(), which
  deletes its copies with it, and a copy finished just after its recording went is
  deleted again at once: a deleted call's audio does not
  linger in a copy.
- Half-written copies: on a local disk a copy is written under a temporary name beside its
  final one and renamed when complete (an atomic step); an object store publishes an object
  whole. A copy that cannot be written (a full disk) leaves nothing behind, and the request
  is still served, from its temporary file.

Output is byte-for-byte deterministic (recordings/audio.py), so a range served from a copy
made by another process fits the bytes a client already has.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile

from recordings import audio, work
from recordings.serving import open_stored
from shared import cpu_pool
from shared.connections import give_back_connection

logger = logging.getLogger(__name__)

PREFIX = "encoded"

# A cut segment below this size stays in memory while it is served; above, on disk.
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class EncodedRecording:
    size: int
    # Opens the transcoded bytes, positioned at the start; the caller closes it.
    open: Callable[[], IO[bytes]]


def copy_folder(recording_name: str) -> str:
    """Where the transcoded copies of the recording stored as `recording_name` live."""
    return f"{PREFIX}/{recording_name}"


def copy_name(recording_name: str, recording_size: int, fmt: audio.AudioFormat) -> str:
    return f"{copy_folder(recording_name)}/{recording_size}-{fmt.name}.{fmt.extension}"


@dataclass
class _Flight:
    """One transcode in this process, and the requests waiting for its result."""

    done: threading.Event = field(default_factory=threading.Event)
    result: EncodedRecording | None = None
    error: BaseException | None = None


_flights: dict[str, _Flight] = {}
_flights_lock = threading.Lock()


def encoded_recording(
    recording: FieldFile, fmt: audio.AudioFormat, *, max_seconds: float | None
) -> EncodedRecording:
    """The stored recording in `fmt`: its kept copy, or transcoded now (and kept).

    Raises work.Busy, cpu_pool.PoolTimeout, audio.TooLong (it decodes to more than
    `max_seconds`), audio.UndecodableRecording, or OSError (FileNotFoundError) when the
    stored file is gone.
    """
    storage: Storage = recording.storage
    name = copy_name(recording.name or "", recording.size, fmt)
    kept = _kept(storage, name)
    if kept is not None:
        return kept
    # Waiting for a transcode (its own or another request's) can take minutes: no pooled
    # database connection waits with it.
    give_back_connection()
    with _flights_lock:
        flight = _flights.get(name)
        leading = flight is None
        if flight is None:
            flight = _flights[name] = _Flight()
    if not leading:
        # The same transcode is under way for another request: its result serves this one.
        if not flight.done.wait(settings.CPU_POOL_TIMEOUT_SECONDS):
            raise cpu_pool.PoolTimeout
        if flight.result is not None:
            return flight.result
        if isinstance(flight.error, audio.UndecodableRecording | OSError):
            raise flight.error  # the same file fails the same way
        raise work.Busy  # it failed for a passing reason (busy, timeout): ask again later
    try:
        encoded, shareable = _transcode_and_keep(recording, storage, name, fmt, max_seconds)
        if shareable:
            flight.result = encoded
        return encoded
    except BaseException as error:
        flight.error = error
        raise
    finally:
        with _flights_lock:
            del _flights[name]
        flight.done.set()


def _kept(storage: Storage, name: str) -> EncodedRecording | None:
    if not storage.exists(name):
        return None
    return _stored(storage, name, storage.size(name))


def _stored(storage: Storage, name: str, size: int) -> EncodedRecording:
    return EncodedRecording(size=size, open=lambda: open_stored(storage, name))


def _transcode_and_keep(
    recording: FieldFile,
    storage: Storage,
    name: str,
    fmt: audio.AudioFormat,
    max_seconds: float | None,
) -> tuple[EncodedRecording, bool]:
    """Transcode and keep the copy; (the answer, whether other requests may share it)."""
    with work.slots.taken(), work.local_path(recording) as source:
        try:
            final = storage.path(name)
        except NotImplementedError:
            final = None
        if final is not None:
            # Local disk: written beside its final name, renamed when complete.
            os.makedirs(os.path.dirname(final), exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=os.path.dirname(final), prefix=".partial-")
            os.close(handle)
            try:
                cpu_pool.run(_transcode_file, source, fmt, partial, max_seconds)
                if settings.FILE_UPLOAD_PERMISSIONS is not None:
                    os.chmod(partial, settings.FILE_UPLOAD_PERMISSIONS)
                os.replace(partial, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(partial)
                raise
            encoded = _stored(storage, name, os.path.getsize(final))
        else:
            out = tempfile.NamedTemporaryFile(prefix="encoded-")  # noqa: SIM115 - closed below or by the caller
            try:
                cpu_pool.run(_transcode_file, source, fmt, out.name, max_seconds)
            except BaseException:
                out.close()
                raise
            if not _publish(storage, name, out):
                size = os.path.getsize(out.name)
                return EncodedRecording(size=size, open=_reopen(out)), False
            out.close()
            encoded = _stored(storage, name, storage.size(name))
    if not storage.exists(recording.name or ""):
        # The recording was deleted while it was being transcoded: so is its copy.
        forget(storage, recording.name or "")
    return encoded, True


def _transcode_file(
    source: str, fmt: audio.AudioFormat, target: str, max_seconds: float | None
) -> None:
    with open(source, "rb") as recording, open(target, "wb+") as out:
        audio.transcode(recording, fmt, out, max_seconds=max_seconds)


def _publish(storage: Storage, name: str, out: IO[bytes]) -> bool:
    """Save the transcoded file as `name` in a remote storage; False when it cannot be."""
    try:
        out.seek(0)
        saved = storage.save(name, File(out))
    except Exception as error:
        logger.warning("A transcoded copy could not be kept: %s", type(error).__name__)
        return False
    if saved != name:
        # Another server kept the same copy first (the storage picked another name).
        storage.delete(saved)
    return True


def _reopen(out: IO[bytes]) -> Callable[[], IO[bytes]]:
    def open_body() -> IO[bytes]:
        out.seek(0)
        return out

    return open_body


def delete_recording(storage: Storage, name: str) -> None:
    """Delete the stored recording `name` and its transcoded copies: the way every recording
    file is deleted, so that no copy of deleted audio is left. Raises what the storage
    raises (the recording first: its copies are deleted once it is gone)."""
    storage.delete(name)
    forget(storage, name)


def forget(storage: Storage, recording_name: str) -> None:
    """Delete every transcoded copy of the recording stored as `recording_name`."""
    folder = copy_folder(recording_name)
    try:
        _, files = storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        return
    for copy in files:
        storage.delete(f"{folder}/{copy}")
    with contextlib.suppress(OSError, NotImplementedError):
        os.rmdir(storage.path(folder))


def encoded_segment(
    recording: FieldFile,
    fmt: audio.AudioFormat,
    start: float,
    end: float,
    *,
    max_seconds: float | None,
) -> EncodedRecording:
    """The part [start, end) seconds of the recording in `fmt`, transcoded now (segments
    are small and rarely asked twice). Raises audio.OutsideRecording when `start` is at or
    after the end of the recording, else as encoded_recording."""
    give_back_connection()  # as encoded_recording
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    try:
        with work.slots.taken(), work.local_path(recording) as source:
            cpu_pool.run(_cut_file, source, fmt, out, start, end, max_seconds)
        size = out.seek(0, os.SEEK_END)
    except BaseException:
        out.close()
        raise
    return EncodedRecording(size=size, open=_reopen(out))


def _cut_file(
    source: str,
    fmt: audio.AudioFormat,
    out: IO[bytes],
    start: float,
    end: float,
    max_seconds: float | None,
) -> None:
    with open(source, "rb") as recording:
        audio.transcode(recording, fmt, out, start=start, end=end, max_seconds=max_seconds)
