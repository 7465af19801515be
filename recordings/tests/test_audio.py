"""recordings/audio.py: transcoding, cutting, duration and waveforms, checked by decoding the
output with FFmpeg (PyAV) and reading the PNGs with Pillow."""

import io
import re

import av
import pytest
from PIL import Image

from calls.tests.sounds import silent_then_loud_wav, tone_wav
from recordings import audio

# Verba's format name → (FFmpeg's name for the container it reads back, the codec in it).
EXPECTED = {
    "mp3": ("mp3", "mp3"),
    "pcm16": ("wav", "pcm_s16le"),
    "pcm8": ("wav", "pcm_u8"),
    "ulaw": ("wav", "pcm_mulaw"),
    "alaw": ("wav", "pcm_alaw"),
    "opus": ("ogg", "opus"),
}


def encode(data: bytes, name: str, **segment) -> bytes:
    out = io.BytesIO()
    audio.transcode(io.BytesIO(data), audio.FORMATS[name], out, **segment)
    return out.getvalue()


def decoded(data: bytes) -> tuple[str, str, int, int, float]:
    """(container, codec, sample rate, channels, seconds) of a file, as FFmpeg decodes it."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        codec = stream.codec_context.name
        return container.format.name, codec, stream.rate, stream.channels, samples / stream.rate


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_format_decodes_as_that_format_with_the_recordings_length(name):
    container, codec, _, channels, seconds = decoded(encode(tone_wav(3.0), name))

    assert (container, codec.removesuffix("float")) == EXPECTED[name]
    assert channels == 1
    assert seconds == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_same_recording_and_format_always_give_the_same_bytes(name):
    recording = tone_wav(2.0)

    first, second = encode(recording, name), encode(recording, name)

    assert first == second
    # No encoder version (Lavf62.12.102) that would change the bytes with a library upgrade.
    assert re.search(rb"Lav[fc]\d", first) is None


def test_the_ogg_stream_serial_number_is_fixed_not_random():
    page = encode(tone_wav(1.0), "opus")

    assert page[:4] == b"OggS"
    assert page[14:18] == b"\x00\x00\x00\x00"


def test_the_pcm_formats_keep_the_recordings_rate_and_channels():
    _, _, rate, channels, seconds = decoded(encode(tone_wav(1.0, rate=16000, channels=2), "pcm16"))

    assert (rate, channels) == (16000, 2)
    assert seconds == pytest.approx(1.0, abs=0.001)


@pytest.mark.parametrize("name", ["ulaw", "alaw"])
def test_g711_is_written_at_8_khz_whatever_the_recordings_rate(name):
    _, _, rate, _, seconds = decoded(encode(tone_wav(1.0, rate=44100), name))

    assert rate == 8000
    assert seconds == pytest.approx(1.0, abs=0.01)


def test_opus_takes_a_rate_it_supports_above_the_recordings():
    _, _, rate, channels, seconds = decoded(encode(tone_wav(1.0, rate=44100, channels=2), "opus"))

    assert rate == 48000
    assert channels == 2
    assert seconds == pytest.approx(1.0, abs=0.1)


def test_a_segment_holds_exactly_the_samples_between_start_and_end():
    recording = tone_wav(3.0)

    segment = encode(recording, "pcm16", start=1.0, end=2.5)

    assert decoded(segment)[4] == 1.5
    # The first sample of the segment is the recording's sample at one second.
    data_at = recording.index(b"data") + 8
    assert segment[segment.index(b"data") + 8 :][:100] == recording[data_at + 16000 :][:100]


def test_a_segment_in_mp3_has_the_segments_length():
    assert decoded(encode(tone_wav(3.0), "mp3", start=0.5, end=2.0))[4] == pytest.approx(
        1.5, abs=0.1
    )


def test_a_segment_ending_past_the_recording_ends_with_it():
    assert decoded(encode(tone_wav(3.0), "pcm16", start=2.0, end=60.0))[4] == 1.0


@pytest.mark.parametrize("start", [3.0, 3.5, 1000.0])
def test_a_segment_starting_at_or_after_the_end_is_refused(start):
    with pytest.raises(audio.OutsideRecording):
        encode(tone_wav(3.0), "pcm16", start=start, end=start + 10)


def test_duration_is_counted_from_the_decoded_samples():
    assert audio.duration(io.BytesIO(tone_wav(2.5))) == 2.5
    assert audio.duration(io.BytesIO(encode(tone_wav(2.5), "mp3"))) == pytest.approx(2.5, abs=0.1)


def test_a_recording_in_another_container_transcodes_too():
    ogg = encode(tone_wav(2.0), "opus")

    assert decoded(encode(ogg, "mp3"))[4] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not audio at all " * 100,
        b"\x89PNG\r\n\x1a\n" + bytes(200),
        # A WAV header that promises audio and holds none.
        tone_wav(0.0),
        # A playlist naming a local file: never followed.
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
    ],
    ids=["empty", "text", "png", "no-samples", "playlist"],
)
def test_what_is_not_audio_raises_undecodable_recording(data):
    with pytest.raises(audio.UndecodableRecording):
        audio.duration(io.BytesIO(data))
    with pytest.raises(audio.UndecodableRecording):
        encode(data, "mp3")
    with pytest.raises(audio.UndecodableRecording):
        audio.envelope(io.BytesIO(data), 10)


def test_the_envelope_follows_the_amplitude_column_by_column():
    shape = audio.envelope(io.BytesIO(silent_then_loud_wav()), 4)

    assert shape.maxima[:2] == (0.0, 0.0)
    assert shape.minima[:2] == (0.0, 0.0)
    assert shape.maxima[2:] == pytest.approx((1.0, 1.0), abs=0.001)
    assert shape.minima[2:] == (-1.0, -1.0)


def test_the_envelope_of_a_tone_peaks_at_its_amplitude_in_every_column():
    shape = audio.envelope(io.BytesIO(tone_wav(2.0, amplitude=0.5)), 800)

    assert len(shape) == 800
    assert all(high == pytest.approx(0.5, abs=0.01) for high in shape.maxima)
    assert all(low == pytest.approx(-0.5, abs=0.01) for low in shape.minima)


def test_an_envelope_wider_than_the_recording_repeats_samples():
    shape = audio.envelope(io.BytesIO(tone_wav(0.001)), 100)  # 8 samples

    assert len(shape) == 100
    assert max(shape.maxima) > 0


WHITE, RED, BLUE, GREEN = (255, 255, 255), (255, 0, 0), (0, 0, 255), (0, 255, 0)


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGBA")


def test_the_waveform_draws_the_upper_envelope_above_the_middle_and_the_lower_below():
    shape = audio.envelope(io.BytesIO(silent_then_loud_wav()), 4)
    colours = audio.WaveformColours(background=WHITE, maximum=RED, minimum=BLUE)

    image = pixels(audio.draw_waveform(shape, 21, colours))

    assert image.size == (4, 21)
    # Silence: just the middle row, in the upper envelope's colour.
    assert [image.getpixel((0, y))[:3] for y in (0, 9, 10, 11, 20)] == [
        WHITE,
        WHITE,
        RED,
        WHITE,
        WHITE,
    ]
    # Full scale: the whole column, red down to the middle, blue below it.
    assert [image.getpixel((3, y))[:3] for y in (0, 10, 11, 20)] == [RED, RED, BLUE, BLUE]
    assert {image.getpixel((x, y))[3] for x in range(4) for y in range(21)} == {255}


def test_pixels_of_the_transparency_colour_are_transparent_and_no_others():
    shape = audio.envelope(io.BytesIO(silent_then_loud_wav()), 4)
    colours = audio.WaveformColours(background=GREEN, maximum=RED, minimum=BLUE, transparent=GREEN)

    image = pixels(audio.draw_waveform(shape, 21, colours))

    assert image.getpixel((0, 0)) == (*GREEN, 0)
    assert image.getpixel((3, 0)) == (*RED, 255)
    assert image.getpixel((3, 20)) == (*BLUE, 255)


def test_the_same_envelope_draws_the_same_png():
    shape = audio.envelope(io.BytesIO(tone_wav(1.0)), 50)
    colours = audio.WaveformColours(background=WHITE, maximum=RED, minimum=BLUE)

    assert audio.draw_waveform(shape, 30, colours) == audio.draw_waveform(shape, 30, colours)
