"""GetMediaSegment (§7.10): a part of the call's recording, [start, end) in seconds,
transcoded to `format` (default pcm16)."""

from recordings import audio
from recordings.encoded import encoded_segment
from verba.actions import Context, register
from verba.actions.lookup import BY_ID, names_a_call
from verba.actions.media import (
    MediaAction,
    call_with_media,
    decode_limit,
    encoded_answer,
    parse_format,
    parse_seconds,
    reading_recording,
)
from verba.answers import Answer
from verba.codes import invalid
from verba.forms import ActionForm, field

START_NOT_BEFORE_END = "The start parameter must be less than end."
OUTSIDE = "The segment starts at or after the end of the recording."


class GetMediaSegmentForm(ActionForm):
    start = field("start", parse_seconds, default=0.0)
    end = field("end", parse_seconds, default=10.0)
    format = field("format", parse_format, default="pcm16")
    call = names_a_call(BY_ID)


@register
class GetMediaSegment(MediaAction):
    name = "GetMediaSegment"
    form = GetMediaSegmentForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(GetMediaSegmentForm)
        start, end = form.start, form.end
        if start >= end:
            raise invalid(START_NOT_BEFORE_END)
        fmt = form.format
        call = call_with_media(context, form.call)
        with reading_recording(call, self.name):
            try:
                # An `end` past the recording's end is clamped to it.
                segment = encoded_segment(
                    call.recording, fmt, start, end, max_seconds=decode_limit(call)
                )
            except audio.OutsideRecording:
                raise invalid(OUTSIDE) from None
        return encoded_answer(context, self, call, segment, fmt, honour_range=False)
