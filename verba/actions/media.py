"""What the media actions share (contract §7.0 "Media answers", §7.8–§7.11, §7.13 "Media").

A media action answers success with the file itself: its own Content-Type, Content-Length
and `Content-Disposition: attachment; filename="<ccdr_id>.<ext>"`. Its errors are XML
whatever responseType says (the view sees `Action.media`). A call without a recording is
code 2 "The call has no media."; a recording that cannot be decoded, or whose file is gone
from storage, is code 2 too, with a message saying so, and is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http.response import HttpResponseBase
from django.utils import timezone

from access_log.models import Kind
from calls.models import Call
from recordings import audio, work
from recordings.encoded import EncodedRecording
from recordings.serving import ranged_response
from shared import cpu_pool
from verba.actions import Action, Context
from verba.actions.access import record_read
from verba.actions.lookup import CallNaming, NamedCall, NamingForm, find_call
from verba.answers import Answer
from verba.codes import ApiError, Code, invalid
from verba.params import Params

logger = logging.getLogger(__name__)

RETRIEVING = "retrieve the media"
NO_MEDIA = "The call has no media."
UNDECODABLE = "The call's recording cannot be decoded: it is not audio callportal can read."
MISSING = "The call's recording cannot be read from storage."
TOO_LONG = (
    "The call's recording is refused: it decodes to more than {limit} seconds, far beyond "
    "the call's length of {length} seconds."
)
BUSY = "The server is busy preparing other recordings; try again in {seconds} seconds."

FORMAT_NOT_SUPPORTED = "The format is not supported."
FORMAT_UNKNOWN = f"The format parameter must be one of {', '.join(audio.FORMATS)} (or left out)."
# Verba's other formats: named in its documentation, not offered here.
VERBA_ONLY_FORMATS = frozenset(
    {
        "msadpcm",
        "gsmfr",
        "speex",
        "speex_vad",
        "speex_hq",
        "speex_vad_hq",
        "opus_vad",
        "opus_hq",
        "opus_vad_hq",
    }
)


# GetMedia and GetMediaEncoded: callID (or ccdr_id, cid), or extension + status without
# `next`; GetMediaSegment and GetWaveform: callID (or its aliases) only.
BY_ID_OR_EXTENSION_NOW = CallNaming(
    NamingForm.CALL_ID | NamingForm.EXTENSION_STATUS, allow_next=False
)


class MediaAction(Action):
    media = True


def parse_format(params: Params, name: str, default: str) -> audio.AudioFormat:
    raw = params.get(name)
    name = default if raw is None else raw.strip().lower()
    if name in audio.FORMATS:
        return audio.FORMATS[name]
    if name in VERBA_ONLY_FORMATS:
        raise invalid(FORMAT_NOT_SUPPORTED)
    raise invalid(FORMAT_UNKNOWN)


_SECONDS = re.compile(r"^\d{1,9}(\.\d{1,9})?$")


def parse_seconds(params: Params, name: str, default: float) -> float:
    """A non-negative number of seconds (decimals allowed), or `default` when absent."""
    raw = params.get(name)
    if raw is None:
        return default
    value = raw.strip()
    if not _SECONDS.match(value):
        raise invalid(f"The {name} parameter must be a number of seconds, 0 or more.")
    return float(value)


def call_with_media(context: Context, named: NamedCall) -> Call:
    """The call the request names, which must have a recording."""
    call = find_call(
        named,
        arrived_at=context.arrived_at,
        doing=RETRIEVING,
        scope=context.scope,
        owner=context.owner,
    )
    if not call.recording:
        raise ApiError(Code.NOT_FOUND, NO_MEDIA)
    return call


def decode_limit(call: Call) -> float:
    """The most seconds of audio the call's recording may decode to (audio.decode_limit)."""
    return audio.decode_limit(call.started_at, call.ended_at)


@contextmanager
def reading_recording(call: Call, action: str) -> Iterator[None]:
    """Turns a recording that cannot be read into code 2, logged; audio work refused
    because the server is busy (or too slow now) into code 9 with Retry-After."""
    try:
        yield
    except work.Busy as busy:
        raise ApiError(
            Code.UNAVAILABLE,
            BUSY.format(seconds=busy.retry_after),
            headers={"Retry-After": str(busy.retry_after)},
        ) from None
    except cpu_pool.PoolTimeout:
        logger.warning("%s: the recording of call %s took too long to prepare", action, call.pk)
        raise ApiError(
            Code.UNAVAILABLE,
            BUSY.format(seconds=work.RETRY_AFTER_SECONDS),
            headers={"Retry-After": str(work.RETRY_AFTER_SECONDS)},
        ) from None
    except audio.TooLong as error:
        logger.warning("%s: the recording of call %s is refused: %s", action, call.pk, error)
        length = (call.ended_at or timezone.now()) - call.started_at
        raise ApiError(
            Code.NOT_FOUND,
            TOO_LONG.format(limit=round(error.limit_seconds), length=round(length.total_seconds())),
        ) from None
    except audio.UndecodableRecording as error:
        logger.warning("%s: the recording of call %s cannot be decoded: %s", action, call.pk, error)
        raise ApiError(Code.NOT_FOUND, UNDECODABLE) from None
    except OSError as error:
        # FileNotFoundError for a deleted file; other storage errors read alike.
        logger.warning(
            "%s: the recording of call %s cannot be read: %s",
            action,
            call.pk,
            error.__class__.__name__,
        )
        raise ApiError(Code.NOT_FOUND, MISSING) from None


def media_answer(
    context: Context, action: MediaAction, call: Call, response: HttpResponseBase, **detail: Any
) -> Answer:
    """The media as the answer, once its download is in the access log."""
    record_read(context, Kind.DOWNLOAD, action.name, call.pk, **detail)
    return Answer(type=action.name, call_id=call.pk, media=response)


def encoded_answer(
    context: Context,
    action: MediaAction,
    call: Call,
    encoded: EncodedRecording,
    fmt: audio.AudioFormat,
    *,
    honour_range: bool,
) -> Answer:
    response = ranged_response(
        context.request._request,
        size=encoded.size,
        open_body=encoded.open,
        content_type=fmt.content_type,
        filename=f"{call.pk}.{fmt.extension}",
        as_attachment=True,
        honour_range=honour_range,
    )
    return media_answer(context, action, call, response, format=fmt.name)
