"""GetMedia (§7.8): the call's stored recording, byte for byte, with Range support."""

from recordings.serving import extension_for, recording_response, served_type
from verba.actions import Context, register
from verba.actions.lookup import names_a_call
from verba.actions.media import (
    BY_ID_OR_EXTENSION_NOW,
    MediaAction,
    call_with_media,
    media_answer,
    reading_recording,
)
from verba.answers import Answer
from verba.forms import ActionForm


class GetMediaForm(ActionForm):
    call = names_a_call(BY_ID_OR_EXTENSION_NOW)


@register
class GetMedia(MediaAction):
    name = "GetMedia"
    form = GetMediaForm

    def run(self, context: Context) -> Answer:
        call = call_with_media(context, context.form_as(GetMediaForm).call)
        content_type = served_type(call.recording, call.recording_content_type)
        with reading_recording(call, self.name):
            # Streamed from storage in chunks: a long recording never sits in memory.
            response = recording_response(
                context.request._request,
                call.recording,
                content_type,
                filename=f"{call.pk}{extension_for(content_type)}",
                as_attachment=True,
            )
        return media_answer(context, self, call, response, format=content_type)
