"""GetMediaEncoded (§7.9): the call's recording transcoded to `format` (default mp3), with
Range support. The same recording and format always give the same bytes; a transcoded file
is kept in storage (recordings/encoded.py), so a range request does not transcode again."""

from recordings.encoded import encoded_recording
from verba.actions import Context, register
from verba.actions.media import (
    BY_ID_OR_EXTENSION_NOW,
    MediaAction,
    call_with_media,
    decode_limit,
    encoded_answer,
    parse_format,
    reading_recording,
)
from verba.answers import Answer


@register
class GetMediaEncoded(MediaAction):
    name = "GetMediaEncoded"
    naming = BY_ID_OR_EXTENSION_NOW

    def run(self, context: Context) -> Answer:
        fmt = parse_format(context.params, default="mp3")
        call = call_with_media(context, self)
        with reading_recording(call, self.name):
            encoded = encoded_recording(call.recording, fmt, max_seconds=decode_limit(call))
        return encoded_answer(context, self, call, encoded, fmt, honour_range=True)
