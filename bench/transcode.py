"""Time recordings/audio.py on a 5-minute 8 kHz mono WAV: each GetMediaEncoded format, a segment,
the duration and a waveform.

    .venv/bin/python bench/transcode.py [--seconds 300] [--runs 3]

Makes the recording in memory (a speech-like tone with noise, 16-bit), then for each task
prints the median wall-clock time and the median CPU time of this process over the runs,
and the output size. On a shared machine wall time grows with the load; CPU time is what the
work itself costs. The load average is printed for context.
"""

import argparse
import io
import math
import os
import random
import statistics
import sys
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recordings import audio


def recording(seconds: float, rate: int = 8000) -> bytes:
    noise = random.Random(1)
    frames = bytearray()
    for n in range(round(seconds * rate)):
        t = n / rate
        # A 220 Hz voice with harmonics, its loudness rising and falling like speech.
        level = 0.5 + 0.5 * math.sin(2 * math.pi * 0.7 * t)
        voice = sum(math.sin(2 * math.pi * 220 * k * t) / k for k in (1, 2, 3, 5))
        value = round(6000 * level * voice) + noise.randint(-300, 300)
        frames += max(-32768, min(32767, value)).to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def timed(task, runs: int) -> tuple[float, float, int]:
    walls, cpus, size = [], [], 0
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        size = task()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    source = io.BytesIO(recording(args.seconds))
    print(
        f"{args.seconds:g} s of 8 kHz mono 16-bit WAV ({len(source.getvalue()):,} bytes); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; median of {args.runs}"
    )
    print(f"{'task':<28}{'wall s':>8}{'CPU s':>8}{'bytes':>12}")

    def encode(fmt, **segment):
        def task() -> int:
            out = io.BytesIO()
            audio.transcode(source, audio.FORMATS[fmt], out, **segment)
            return len(out.getvalue())

        return task

    tasks = [(f"GetMediaEncoded {name}", encode(name)) for name in audio.FORMATS]
    tasks += [
        ("GetMediaSegment 10 s pcm16", encode("pcm16", start=120.0, end=130.0)),
        ("duration", lambda: int(audio.duration(source))),
        (
            "GetWaveform 800x80",
            lambda: len(
                audio.draw_waveform(
                    audio.envelope(source, 800),
                    80,
                    audio.WaveformColours((255, 255, 255), (30, 80, 140), (90, 140, 200)),
                )
            ),
        ),
    ]
    for label, task in tasks:
        wall, cpu, size = timed(task, args.runs)
        print(f"{label:<28}{wall:>8.2f}{cpu:>8.2f}{size:>12,}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
