"""Serving a call's recording with HTTP range requests, so that audio players can seek.

The file is read through the storage API (`storage.open`, `seek`, chunked reads), so this
works the same for files on disk and in object storage. The permission check is the
view's; this module only turns (file, Range header) into a response.

A recording is served from the site's own origin to logged-in staff, so whatever it
contains must never run as a page there: it is sent only with an allowed audio type (else
as an opaque download), with `nosniff`, and with `Content-Security-Policy: sandbox`, which
denies scripts, forms and the origin's cookies to anything a browser renders from it.
"""

import mimetypes
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from django.core.files import File
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from calls import audio

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
    A stored type that is not an allowed audio type is sent as an attachment of type
    application/octet-stream: downloaded, never shown.
    """
    size = recording.size
    served = audio.servable_type(content_type or _guess_type(recording.name or ""))
    content_type = served or _OPAQUE
    if served is None:
        # Nor may the saved file open as a page by its name.
        filename = f"{PurePosixPath(filename).stem}.bin"
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
        as_attachment=served is None, filename=filename
    )
    return _common_headers(response)


def _common_headers(response: HttpResponse) -> HttpResponse:
    response["Accept-Ranges"] = "bytes"
    # Staff-only content: browsers may keep it for seeking, shared caches must not.
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


def _read(recording: File, first: int, length: int) -> Iterator[bytes]:
    # A generator: the response closes it when done (or when the client goes away), which
    # runs the `finally` and closes the storage file.
    handle = recording.storage.open(recording.name, "rb")  # type: ignore[attr-defined]
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


_OPAQUE = "application/octet-stream"


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or _OPAQUE
