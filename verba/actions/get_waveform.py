"""GetWaveform (§7.11, §7.13): a PNG of the call's recording's amplitude over time."""

from __future__ import annotations

import re

from django.http import HttpResponse
from django.utils.http import content_disposition_header

from recordings import audio, work
from verba.actions import Context, register
from verba.actions.lookup import BY_ID, names_a_call
from verba.actions.media import (
    MediaAction,
    call_with_media,
    decode_limit,
    media_answer,
    reading_recording,
)
from verba.answers import Answer
from verba.codes import invalid
from verba.forms import ActionForm, Field, field
from verba.params import Params

MAX_WIDTH = 4000
MAX_HEIGHT = 1000

# isColorDefined=false: callportal's own style (Verba's is not documented): dark and light
# blue on white, nothing transparent.
DEFAULT_COLOURS = audio.WaveformColours(
    background=(255, 255, 255), maximum=(30, 80, 140), minimum=(90, 140, 200)
)

_WHOLE = re.compile(r"^\d{1,9}$")
_COLOUR = re.compile(r"^0[xX]([0-9a-fA-F]{6})$")


def parse_size(params: Params, name: str, largest: int) -> int:
    message = f"The {name} parameter must be a whole number from 1 to {largest}."
    raw = params.get(name)
    if raw is None or not _WHOLE.match(raw.strip()):
        raise invalid(message)
    value = int(raw.strip())
    if not 1 <= value <= largest:
        raise invalid(message)
    return value


def parse_colour(params: Params, name: str) -> audio.RGB:
    """`0x` and 6 hex digits, the lowest byte red, then green, then blue (as Verba reads
    them): 0x0000FF is red."""
    raw = params.get(name)
    if raw is None:
        raise invalid(f"The {name} parameter is required when isColorDefined is true.")
    match = _COLOUR.match(raw.strip())
    if match is None:
        raise invalid(
            f"The {name} parameter must be 0x followed by 6 hexadecimal digits "
            "(the lowest byte red, then green, then blue)."
        )
    value = int(match.group(1), 16)
    return value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF


def parse_colours(params: Params) -> audio.WaveformColours:
    raw = params.get("isColorDefined")
    defined = None if raw is None else {"true": True, "false": False}.get(raw.strip().lower())
    if defined is None:
        raise invalid("The isColorDefined parameter must be true or false.")
    if not defined:
        return DEFAULT_COLOURS
    return audio.WaveformColours(
        background=parse_colour(params, "bgColor"),
        maximum=parse_colour(params, "maxColor"),
        minimum=parse_colour(params, "minColor"),
        transparent=parse_colour(params, "transparency"),
    )


# The colour scheme is read from its five parameters together (isColorDefined decides
# whether the others are needed).
COLOUR_NAMES = ("isColorDefined", "bgColor", "maxColor", "minColor", "transparency")


class GetWaveformForm(ActionForm):
    width = field("width", parse_size, largest=MAX_WIDTH)
    height = field("height", parse_size, largest=MAX_HEIGHT)
    colours = Field(COLOUR_NAMES, parse_colours)
    call = names_a_call(BY_ID)


@register
class GetWaveform(MediaAction):
    name = "GetWaveform"
    form = GetWaveformForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(GetWaveformForm)
        width, height, colours = form.width, form.height, form.colours
        call = call_with_media(context, form.call)
        with reading_recording(call, self.name):
            png = work.waveform(
                call.recording, width, height, colours, max_seconds=decode_limit(call)
            )
        response = HttpResponse(png, content_type="image/png")
        response["Content-Length"] = str(len(png))
        disposition = content_disposition_header(as_attachment=True, filename=f"{call.pk}.png")
        if disposition is not None:  # always, for an attachment
            response["Content-Disposition"] = disposition
        return media_answer(context, self, call, response, format="png")
