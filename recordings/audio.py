"""Audio work on call recordings: transcoding, cutting, duration and waveforms, on PyAV.

Pure functions on file-like objects: a recording opened through Django's storage API
(`call.recording.open("rb")`), so local files and object storage read alike. Nothing here
knows HTTP, the Business API or the database.

Output is deterministic: the same recording and format give the same bytes. FFmpeg's
"bitexact" flags keep encoder version strings out of the MP3 ID3 tag, the WAV header and
the Ogg comment header, and fix the Ogg stream serial number at 0 (it is random otherwise).
That is what lets a client resume a transcoded download with a Range request, even when
the two requests are answered by different processes.
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from django.utils import timezone
from PIL import Image, ImageDraw

# Demuxers FFmpeg may use on a stored recording: the audio containers recorders write.
# Anything else (playlists, images, subtitle or "concat" scripts that name other files) is
# refused before it is parsed: a recording is uploaded data, not a trusted file.
DEMUXERS = "wav,w64,mp3,ogg,matroska,webm,mov,mp4,m4a,flac,aac,aiff,caf,amr,au"
_OPEN_OPTIONS = {"format_whitelist": DEMUXERS, "protocol_whitelist": "none"}
_BITEXACT = {"fflags": "+bitexact"}

# The largest sample value of signed 16-bit audio, for amplitudes in [-1, 1].
_FULL_SCALE = 32768


class UndecodableRecording(Exception):
    """The stored recording is not audio FFmpeg can read (or holds no sound at all)."""


class TooLong(UndecodableRecording):
    """The recording decodes to far more audio than its call lasted (see decode_limit)."""

    def __init__(self, limit_seconds: float) -> None:
        super().__init__(f"it decodes to more than {limit_seconds:.0f} s")
        self.limit_seconds = limit_seconds


class OutsideRecording(ValueError):
    """A segment starts at or after the end of the recording."""


# A recording may run past its call (recorders start early and stop late, clocks differ),
# but not by this much. A small file can hold hours of audio (1.3 MB of FLAC decoded to two
# hours), and decoding all of it costs minutes of CPU for sound the call cannot have had.
OVERRUN_FACTOR = 2
OVERRUN_SECONDS = 600.0


def decode_limit(started_at: datetime, ended_at: datetime | None) -> float:
    """The most seconds of audio a call's recording may decode to: twice the call's length
    (so far, for a call still going on) plus ten minutes. Decoding stops there with TooLong."""
    length = max(((ended_at or timezone.now()) - started_at).total_seconds(), 0.0)
    return OVERRUN_FACTOR * length + OVERRUN_SECONDS


@dataclass(frozen=True)
class AudioFormat:
    """An output format of GetMediaEncoded and GetMediaSegment, by Verba's name."""

    name: str
    container: str  # FFmpeg muxer
    codec: str  # FFmpeg encoder
    extension: str
    content_type: str
    # Sample rates the encoder takes (a recording at another rate is resampled to the
    # nearest one above, else the highest); None keeps the recording's rate.
    rates: tuple[int, ...] | None = None
    bit_rate_per_channel: int | None = None  # for the lossy codecs
    options: Mapping[str, str] = field(default_factory=dict)

    def rate_for(self, rate: int) -> int:
        if self.rates is None or rate in self.rates:
            return rate
        return next((r for r in self.rates if r > rate), self.rates[-1])


_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)

FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        # LAME at quality 7: about twice as fast as its default on speech and still clear
        # (bench/transcode.py); 32 kbit/s per channel is plenty for telephone audio.
        AudioFormat(
            "mp3",
            "mp3",
            "libmp3lame",
            "mp3",
            "audio/mpeg",
            rates=_MP3_RATES,
            bit_rate_per_channel=32_000,
            options={"compression_level": "7"},
        ),
        AudioFormat("pcm16", "wav", "pcm_s16le", "wav", "audio/wav"),
        AudioFormat("pcm8", "wav", "pcm_u8", "wav", "audio/wav"),
        # G.711 is defined at 8 kHz: telephone tools that read it assume that rate.
        AudioFormat("ulaw", "wav", "pcm_mulaw", "wav", "audio/wav", rates=(8000,)),
        AudioFormat("alaw", "wav", "pcm_alaw", "wav", "audio/wav", rates=(8000,)),
        AudioFormat(
            "opus",
            "ogg",
            "libopus",
            "ogg",
            "audio/ogg",
            rates=_OPUS_RATES,
            bit_rate_per_channel=24_000,
        ),
    )
}


# --- Decoding -------------------------------------------------------------------------------


def _open(source: IO[bytes]) -> InputContainer:
    source.seek(0)
    try:
        container = av.open(source, mode="r", options=_OPEN_OPTIONS)
    except (av.FFmpegError, EOFError) as error:
        raise UndecodableRecording(
            f"not a readable audio file ({error.__class__.__name__})"
        ) from error
    if not container.streams.audio:
        container.close()
        raise UndecodableRecording("the file holds no audio stream")
    return container


def _frames(source: IO[bytes], max_seconds: float | None = None) -> Iterator[AudioFrame]:
    """The decoded frames of the recording's first audio stream, in order.

    UndecodableRecording when the file cannot be read or yields no sample at all. A file
    that breaks off part-way gives the frames before the break, as players do. TooLong as
    soon as the frames pass `max_seconds` (nothing beyond it is decoded).
    """
    container = _open(source)
    samples = 0
    try:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                samples += frame.samples
                if max_seconds is not None and samples > max_seconds * frame.sample_rate:
                    raise TooLong(max_seconds)
                yield frame
        except (av.FFmpegError, EOFError) as error:
            if not samples:
                raise UndecodableRecording(
                    f"no audio could be decoded ({error.__class__.__name__})"
                ) from error
    finally:
        container.close()
    if not samples:
        raise UndecodableRecording("the recording holds no audio samples")


def _layout(channels: int) -> str:
    # Telephone recordings are mono or stereo; anything wider is mixed down to stereo.
    return "mono" if channels == 1 else "stereo"


def duration(source: IO[bytes], max_seconds: float | None = None) -> float:
    """The recording's length in seconds, counted from its decoded samples (exact, where a
    container's own duration field may be missing or estimated)."""
    samples = 0
    rate = 0
    for frame in _frames(source, max_seconds):
        samples += frame.samples
        rate = frame.sample_rate
    return samples / rate


def stated_duration(source: IO[bytes]) -> float | None:
    """The length the file's header states, in seconds, without decoding (a WAV's data size
    over its byte rate, say); None when the header states none. Good for drawing, not for
    limits: a header may be estimated or wrong, which `duration` is not."""
    container = _open(source)
    try:
        if container.duration is not None and container.duration > 0:
            return container.duration / av.time_base
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
            return float(stream.duration * stream.time_base)
        return None
    finally:
        container.close()


# --- Transcoding and cutting ----------------------------------------------------------------


def transcode(
    source: IO[bytes],
    fmt: AudioFormat,
    out: IO[bytes],
    *,
    start: float = 0.0,
    end: float | None = None,
    max_seconds: float | None = None,
) -> None:
    """Write the recording, or its part [start, end) in seconds, to `out` in `fmt`.

    TooLong when the recording decodes to more than `max_seconds` (decode_limit).

    `out` must be seekable (a BytesIO or temporary file): the WAV and MP3 muxers go back to
    write sizes and the MP3 seek table when they finish. An `end` past the recording's end
    means the recording's end; a `start` at or after it raises OutsideRecording.
    """
    if start < 0 or (end is not None and end <= start):
        raise ValueError("a segment needs 0 <= start < end")
    output: OutputContainer | None = None
    stream: AudioStream | None = None
    # Decoded frames pass through a FIFO, which splits a frame where the segment begins or
    # ends; the encoder re-frames what it is given to its own frame size.
    fifo = av.AudioFifo()
    skip = emitted = 0
    remaining: int | None = 0
    try:
        for frame in _frames(source, max_seconds):
            if output is None or stream is None:
                output, stream = _output(out, fmt, frame)
                skip = round(start * frame.sample_rate)
                remaining = None if end is None else max(round(end * frame.sample_rate) - skip, 1)
            # Timestamps are the encoder's to set from the sample count: a recording that
            # starts at a non-zero time (or has gaps in its timestamps) still comes out whole.
            frame.pts = None
            fifo.write(frame)
            if skip:
                dropped = fifo.read(min(skip, fifo.samples))
                skip -= 0 if dropped is None else dropped.samples
                if skip or not fifo.samples:
                    continue
            take = fifo.samples if remaining is None else min(remaining, fifo.samples)
            _encode(output, stream, fifo.read(take))
            emitted += take
            if remaining is not None:
                remaining -= take
                if not remaining:
                    break
        if not emitted or output is None or stream is None:
            raise OutsideRecording("the segment starts at or after the end of the recording")
        _encode(output, stream, None)
    finally:
        if output is not None:
            output.close()


def _output(
    out: IO[bytes], fmt: AudioFormat, first: AudioFrame
) -> tuple[OutputContainer, AudioStream]:
    channels = min(first.layout.nb_channels, 2)
    container = av.open(out, mode="w", format=fmt.container, options=_BITEXACT)
    stream = container.add_stream(
        fmt.codec,
        rate=fmt.rate_for(first.sample_rate),
        layout=_layout(channels),
        options=dict(fmt.options),
    )
    if not isinstance(stream, AudioStream):  # every AudioFormat names an audio codec
        raise TypeError(f"{fmt.codec} is not an audio codec")
    stream.codec_context.flags |= av.codec.context.Flags.bitexact
    if fmt.bit_rate_per_channel:
        stream.bit_rate = fmt.bit_rate_per_channel * channels
    return container, stream


def _encode(container: OutputContainer, stream: AudioStream, frame: AudioFrame | None) -> None:
    for packet in stream.encode(frame):
        container.mux(packet)


# --- Waveforms ------------------------------------------------------------------------------

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Envelope:
    """A recording's amplitude over time: per column, the highest and the lowest sample
    value in [-1, 1] (channels mixed to mono)."""

    maxima: tuple[float, ...]
    minima: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.maxima)


@dataclass(frozen=True)
class WaveformColours:
    background: RGB
    maximum: RGB  # each column's upper envelope
    minimum: RGB  # each column's lower envelope
    transparent: RGB | None = None  # pixels of this colour become transparent


def _mono_samples(source: IO[bytes]) -> Iterator[memoryview]:
    """The recording as signed 16-bit mono samples, a decoded frame at a time."""
    resampler = av.AudioResampler(format="s16", layout="mono")
    for frame in _frames(source):  # envelope's first pass has checked its length
        frame.pts = None
        for mono in resampler.resample(frame):
            yield _samples(mono)
    for mono in resampler.resample(None):  # whatever the resampler still holds
        yield _samples(mono)


def _samples(mono: AudioFrame) -> memoryview:
    return memoryview(bytes(mono.planes[0])[: mono.samples * 2]).cast("h")


def envelope(source: IO[bytes], columns: int, max_seconds: float | None = None) -> Envelope:
    """The recording's amplitude envelope in `columns` equal slices of its length.

    Two passes over the recording: the first counts its samples, so the second can cut it
    into exact columns while holding one decoded frame at a time (a long recording never
    sits in memory whole). A recording shorter than `columns` samples repeats samples.
    """
    if columns < 1:
        raise ValueError("an envelope needs at least one column")
    total = sum(frame.samples for frame in _frames(source, max_seconds))
    # Column c covers samples [c * total // columns, (c + 1) * total // columns).
    maxima = array("h", [0] * columns)
    minima = array("h", [0] * columns)
    if total < columns:
        samples = array("h")
        for chunk in _mono_samples(source):
            samples.extend(chunk)
        for c in range(min(columns, len(samples) * columns // total)):
            maxima[c] = minima[c] = samples[c * total // columns]
        return _scaled(maxima, minima)
    column, position, started = 0, 0, False
    column_end = total // columns
    for chunk in _mono_samples(source):
        offset = 0
        while offset < len(chunk):
            # The last column takes whatever is left, should decoding give more than counted.
            last = column == columns - 1
            part = chunk[offset:] if last else chunk[offset : offset + column_end - position]
            high, low = max(part), min(part)
            if started:
                high, low = max(high, maxima[column]), min(low, minima[column])
            maxima[column], minima[column], started = high, low, True
            offset += len(part)
            position += len(part)
            if position == column_end and not last:
                column, started = column + 1, False
                column_end = (column + 1) * total // columns
    return _scaled(maxima, minima)


def _scaled(maxima: array, minima: array) -> Envelope:
    return Envelope(
        maxima=tuple(v / _FULL_SCALE for v in maxima),
        minima=tuple(v / _FULL_SCALE for v in minima),
    )


def draw_waveform(shape: Envelope, height: int, colours: WaveformColours) -> bytes:
    """A PNG, one column per envelope column and `height` pixels high: the background, each
    column's upper envelope from the middle row up in the maximum colour, its lower envelope
    from below the middle down in the minimum colour. Pixels whose colour is the
    transparent one are fully transparent.

    A palette image: three colours, with the transparency as per-colour alpha, so every PNG
    reader shows it the same way, and the file stays small.
    """
    if height < 1 or not len(shape):
        raise ValueError("a waveform needs at least one pixel")
    palette = [colours.background, colours.maximum, colours.minimum]
    image = Image.new("P", (len(shape), height), 0)
    image.putpalette([level for colour in palette for level in colour])
    draw = ImageDraw.Draw(image)
    middle = (height - 1) // 2
    half = (height - 1) / 2
    for x, (high, low) in enumerate(zip(shape.maxima, shape.minima, strict=True)):
        top = round(half - max(high, 0.0) * half)
        bottom = round(half - min(low, 0.0) * half)
        draw.line([(x, min(top, middle)), (x, middle)], fill=1)
        if bottom > middle:
            draw.line([(x, middle + 1), (x, bottom)], fill=2)
    out = io.BytesIO()
    options = {}
    if colours.transparent is not None:
        options["transparency"] = bytes(0 if c == colours.transparent else 255 for c in palette)
    image.save(out, format="PNG", **options)
    return out.getvalue()


def waveform(
    source: IO[bytes],
    width: int,
    height: int,
    colours: WaveformColours,
    max_seconds: float | None = None,
) -> bytes:
    """The recording drawn as a PNG `width` columns by `height` pixels: its envelope, drawn
    by draw_waveform. The one path for every waveform callportal serves (GetWaveform, the
    staff call page, both through recordings.work)."""
    return draw_waveform(envelope(source, width, max_seconds), height, colours)
