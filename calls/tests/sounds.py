"""Recordings made for tests: WAV files of known length and shape."""

from __future__ import annotations

import io
import math
import wave


def tone_wav(
    seconds: float = 3.0,
    rate: int = 8000,
    channels: int = 1,
    frequency: float = 440.0,
    amplitude: float = 0.5,
) -> bytes:
    """A 16-bit WAV holding a sine tone: `amplitude` of full scale, the same in each channel."""
    peak = round(amplitude * 32767)
    frames = bytearray()
    for n in range(round(seconds * rate)):
        value = round(peak * math.sin(2 * math.pi * frequency * n / rate))
        frames += value.to_bytes(2, "little", signed=True) * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def silent_then_loud_wav(rate: int = 8000) -> bytes:
    """One second of silence, then one second of a full-scale square wave (+max, -max)."""
    frames = bytearray(2 * rate)
    for n in range(rate):
        value = 32767 if (n // 20) % 2 == 0 else -32768
        frames += value.to_bytes(2, "little", signed=True)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()
