"""Serving a call's recording with HTTP range requests, so that audio players can seek.

The file is read through the storage API (`storage.open`, `seek`, chunked reads) for files
on disk, and with one ranged GET from an S3 bucket (S3_BUCKET), streamed in chunks: never
the whole file in memory. The permission check is the
view's; this module only turns (file, Range header) into a response.
"""

import mimetypes
import re
from collections.abc import Iterator
from typing import Any

from django.core.files import File
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

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
    request: HttpRequest, recording: File, content_type: str, filename: str
) -> HttpResponse:
    """A 200, 206 or 416 answer for `recording` (a FieldFile with a file in storage).

    `filename` is offered to browsers that save the file ("Download the recording").
    """
    size = recording.size
    content_type = content_type or _guess_type(recording.name or "")
    try:
        span = parse_range(request.headers.get("Range", ""), size)
    except Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _common_headers(response)
    first, last = span if span else (0, size - 1)
    length = max(last - first + 1, 0)
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
    else:
        response = StreamingHttpResponse(_read(recording, first, length), content_type=content_type)
    if span:
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(length)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=False, filename=filename
    )
    return _common_headers(response)


def _common_headers(response: HttpResponse) -> HttpResponse:
    response["Accept-Ranges"] = "bytes"
    # Staff-only content: browsers may keep it for seeking, shared caches must not.
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _read(recording: File, first: int, length: int) -> Iterator[bytes]:
    # A generator: the response closes it when done (or when the client goes away), which
    # runs the `finally` and closes the storage file.
    storage = recording.storage  # type: ignore[attr-defined]
    if length > 0 and hasattr(storage, "bucket") and hasattr(storage, "_normalize_name"):
        yield from _read_object_range(storage, recording.name or "", first, length)
        return
    handle = storage.open(recording.name, "rb")
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


def _read_object_range(storage: Any, name: str, first: int, length: int) -> Iterator[bytes]:
    """The bytes from an S3 bucket (django-storages' S3Storage) with one ranged GET.

    S3Storage's own file object downloads the whole object before the first read (into
    memory, by default); asking S3 for just the range streams it through in chunks.
    """
    key = storage._normalize_name(name)
    answer = storage.bucket.Object(key).get(Range=f"bytes={first}-{first + length - 1}")
    body = answer["Body"]
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"
