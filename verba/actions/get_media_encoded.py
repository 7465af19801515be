"""GetMediaEncoded (§7.9): the call's recording transcoded to `format` (default mp3), with
Range support. The same recording and format always give the same bytes; a transcoded file
is kept in storage (recordings/encoded.py), so a range request does not transcode again."""

from recordings.encoded import encoded_recording
from verba.actions import Context, register
from verba.actions.lookup import names_a_call
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
from verba.forms import ActionForm, field


class GetMediaEncodedForm(ActionForm):
    format = field("format", parse_format, default="mp3")
    call = names_a_call(BY_ID_OR_EXTENSION_NOW)


@register
class GetMediaEncoded(MediaAction):
    name = "GetMediaEncoded"
    form = GetMediaEncodedForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(GetMediaEncodedForm)
        fmt = form.format
        call = call_with_media(context, form.call)
        with reading_recording(call, self.name):
            encoded = encoded_recording(call.recording, fmt, max_seconds=decode_limit(call))
        return encoded_answer(context, self, call, encoded, fmt, honour_range=True)
