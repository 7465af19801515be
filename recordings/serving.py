"""Serving a call's recording with HTTP range requests, so that audio players can seek.

The file is read through the storage API (`storage.open`, `seek`, chunked reads) on disk;
from an S3 bucket (S3_BUCKET) with one ranged GET from the requested byte, streamed in
chunks: never the whole file in memory. The permission check is the
view's; this module only turns (file, Range header) into a response. `ranged_response`
serves any seekable body the same way (a transcoded recording, for instance).

A recording is served from the site's own origin to logged-in staff, so whatever it
contains must never run as a page there: it is sent only with an allowed audio type (else
as an opaque download), with `nosniff`, and with `Content-Security-Policy: sandbox`, which
denies scripts, forms and the origin's cookies to anything a browser renders from it.
"""

import hashlib
import mimetypes
import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, Any, cast

from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from recordings import audio
from recordings import types as recording_types

CHUNK_BYTES = 64 * 1024

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The Range header is valid but names no byte of the file."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a single-range `Range` header asks for.

    None means "send the whole file": no header, a malformed one, or several ranges
    (RFC 9110 lets a server ignore Range; one range is all a media player asks for).
    """
    match = _RANGE.match(header) if header else None
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        # "bytes=-N": the last N bytes.
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid, so ignored
    if first >= size:
        raise Unsatisfiable
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def recording_response(
    request: HttpRequest,
    recording: FieldFile,
    content_type: str,
    filename: str,
    *,
    as_attachment: bool = False,
) -> HttpResponseBase:
    """A 200, 206 or 416 answer for `recording` (a FieldFile with a file in storage).

    `filename` is offered to browsers that save the file ("Download the recording").
    A recording whose type is not an allowed audio type (see served_type) is always an
    attachment named `….bin`: downloaded, never shown.
    """
    served = served_type(recording, content_type)
    if served == OPAQUE:
        as_attachment = True
        filename = f"{PurePosixPath(filename).stem}.bin"
    return ranged_response(
        request,
        size=recording.size,
        open_body=lambda: open_recording(recording),
        content_type=served,
        filename=filename,
        as_attachment=as_attachment,
    )


def ranged_response(
    request: HttpRequest,
    *,
    size: int,
    open_body: Callable[[], IO[bytes]],
    content_type: str,
    filename: str,
    as_attachment: bool = False,
    honour_range: bool = True,
) -> HttpResponseBase:
    """A 200, 206 or 416 answer for a body of `size` bytes that `open_body` opens (seekable).

    The body is opened only when it is sent, and streamed in chunks: a 416 or a HEAD
    request never opens it. Without `honour_range`, Range headers are ignored (always 200).
    """
    try:
        span = parse_range(request.headers.get("Range", ""), size) if honour_range else None
    except Unsatisfiable:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return _common_headers(refused)
    first, last = span if span else (0, size - 1)
    length = max(last - first + 1, 0)
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        response = StreamingHttpResponse(_read(open_body, first, length), content_type=content_type)
    if span:
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(length)
    disposition = content_disposition_header(as_attachment=as_attachment, filename=filename)
    if disposition is not None:
        response["Content-Disposition"] = disposition
    response = _common_headers(response)
    if not honour_range:
        response["Accept-Ranges"] = "none"
    return response


def _common_headers(response: HttpResponseBase) -> HttpResponseBase:
    response["Accept-Ranges"] = "bytes"
    # Staff-only content: browsers may keep it for seeking, shared caches must not.
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


# The staff call page's waveform: wide enough to stay sharp across the page at 1920 px, drawn
# in the site's accent colours on a transparent background (the page's own shows through).
WAVEFORM_WIDTH = 1200
WAVEFORM_HEIGHT = 120
WAVEFORM_COLOURS = audio.WaveformColours(
    background=(255, 255, 255),
    maximum=(11, 92, 173),
    minimum=(90, 140, 200),
    transparent=(255, 255, 255),
)


def waveform_etag(recording: FieldFile) -> str:
    """An ETag for the staff waveform of `recording`: it changes when the stored file does
    (a replacement gets a new name or size) or the drawing does."""
    drawing = (recording.name, recording.size, WAVEFORM_WIDTH, WAVEFORM_HEIGHT, WAVEFORM_COLOURS)
    return '"' + hashlib.sha256(repr(drawing).encode()).hexdigest()[:32] + '"'


def open_recording(recording: FieldFile) -> IO[bytes]:
    """A seekable, readable body of a stored recording, that streams from S3 buckets.

    django-storages' own S3 file object downloads the whole object before its first read
    (into memory by default); for S3 a reader that asks for the range from its position
    to the end, on the first read after a seek, is returned instead.
    """
    return open_stored(recording.storage, recording.name or "")


def open_stored(storage: Storage, name: str) -> IO[bytes]:
    """A seekable, readable body of the file `name` in `storage` (see open_recording)."""
    if hasattr(storage, "bucket") and hasattr(storage, "_normalize_name"):
        # Reads, seeks and closes as a file does: all that the callers ask of IO[bytes].
        return cast(IO[bytes], _S3RangeReader(storage.bucket.Object(storage._normalize_name(name))))
    return storage.open(name, "rb")


class _S3RangeReader:
    def __init__(self, s3_object: Any) -> None:
        self._object = s3_object
        self._position = 0
        self._body: Any = None

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError("only absolute seeks are supported")
        if offset != self._position:
            self.close()
            self._position = offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        if self._body is None:
            self._body = self._object.get(Range=f"bytes={self._position}-")["Body"]
        chunk = self._body.read() if size is None or size < 0 else self._body.read(size)
        self._position += len(chunk)
        return chunk

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def __enter__(self) -> "_S3RangeReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(open_body: Callable[[], IO[bytes]], first: int, length: int) -> Iterator[bytes]:
    # A generator: the response closes it when done (or when the client goes away), which
    # runs the `finally` and closes the body.
    handle = open_body()
    try:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


# File name extensions of the recording types callportal accepts.
EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/flac": ".flac",
}


def extension_for(content_type: str) -> str:
    """The file name extension (with its dot) of a recording type; `.bin` when unknown."""
    return EXTENSIONS.get(content_type.split(";", 1)[0].strip().lower(), ".bin")


OPAQUE = "application/octet-stream"


def served_type(recording: FieldFile, content_type: str) -> str:
    """The Content-Type a recording is served with: the stored one, else guessed from its
    name; but only an allowed or well-known audio type, anything else is OPAQUE."""
    stored = content_type or _guess_type(recording.name or "")
    return recording_types.servable_type(stored) or OPAQUE


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or OPAQUE
