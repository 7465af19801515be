"""Demo data: a small, self-consistent phone system and its calls, with short recordings.

Consistent means what a newcomer would check first: an extension (four digits) always has
the same person's name, an outside number (+44…) always the same caller id, and a call's
direction follows from its numbers (extension → extension is internal, extension → outside
outbound, outside → extension inbound).

Loading is idempotent and keeps data: calls have fixed ids, and a call that exists already is
never written again, so re-running keeps its times, its recording and any edit an
administrator made. The recordings are synthesized here (a few seconds of voice-like tones
and noise), so no file ships with the project and nothing is downloaded.
"""

from __future__ import annotations

import array
import functools
import io
import math
import random
import uuid
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calls.models import Call, Direction, Marker, MetadataField, MetadataValue
from calls.services import store_recording
from calls.states import State, call_state

# Fixed ids make re-runs find the same calls instead of adding more.
NAMESPACE = uuid.UUID("6f1f4f0e-5b7e-4c1e-9d0a-7c0a11c0ca11")
EXTENSIONS = [str(8800 + n) for n in range(56, 56 + 36)]
# The extension whose newest call is in progress (the example API requests ask for it).
BUSY_EXTENSION = EXTENSIONS[0]
RECORDED_CALLS = 40
RECORDING_RATE = 8000  # Hz, telephone quality
RECORDING_CONTENT_TYPE = "audio/wav"

_FIRST_NAMES = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken"]
_LAST_NAMES = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov"]
_COMPANIES = ["Acme Ltd", "Globex", "Initech", "Umbrella plc", "Hooli", "Stark Industries"]


@dataclass(frozen=True)
class Loaded:
    calls: int
    created: int
    recorded: int
    busy_extension: str
    recorded_call: Call | None


def directory(rng: random.Random) -> dict[str, str]:
    """Number → name: every extension is a person; about half the outside numbers show a
    company or a person as their caller id, the rest no name."""
    names = {ext: f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}" for ext in EXTENSIONS}
    for _ in range(80):
        number = f"+4420{rng.randrange(10**7, 10**8)}"
        roll = rng.random()
        if roll < 0.3:
            names[number] = rng.choice(_COMPANIES)
        elif roll < 0.5:
            names[number] = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        else:
            names[number] = ""
    return names


def direction_of(caller: str, called: str) -> str:
    """The direction a PBX reports for a call between these numbers."""
    caller_inside, called_inside = caller in EXTENSIONS, called in EXTENSIONS
    if caller_inside and called_inside:
        return Direction.INTERNAL
    if caller_inside:
        return Direction.OUTBOUND
    return Direction.INBOUND


def planned_calls(count: int, now: datetime) -> list[Call]:
    """The demo's calls, the same ids and parties on every run (times relative to `now`)."""
    rng = random.Random(8856)
    names = directory(rng)
    outside = [number for number in names if number not in EXTENSIONS]
    calls = []
    for n in range(count):
        extension = EXTENSIONS[n % len(EXTENSIONS)]
        # Mostly calls with the outside world, some between colleagues.
        if rng.random() < 0.25:
            other = rng.choice([e for e in EXTENSIONS if e != extension])
        else:
            other = rng.choice(outside)
        caller, called = (extension, other) if rng.random() < 0.5 else (other, extension)
        started = now - timedelta(minutes=rng.randrange(10, 60 * 24 * 7))
        length = timedelta(seconds=rng.randrange(8, 1800))
        calls.append(
            Call(
                id=uuid.uuid5(NAMESPACE, str(n)),
                caller_number=caller,
                caller_name=names[caller],
                called_number=called,
                called_name=names[called],
                started_at=started,
                ended_at=min(started + length, now - timedelta(minutes=1)),
                direction=direction_of(caller, called),
                native_id=f"native-{n:06d}",
                platform_call_id=f"{uuid.uuid5(NAMESPACE, f'platform-{n}').hex}@pbx",
                keep=n % 25 == 0,
            )
        )
    # The busy extension's first call is the one going on now.
    ongoing = calls[0]
    ongoing.started_at = now - timedelta(minutes=3)
    ongoing.ended_at = None
    return calls


def load(count: int) -> Loaded:
    """Create the demo calls that do not exist yet (`count` ≥ 1); give the newest finished
    ones recordings.

    Existing calls are left as they are. When the busy extension has no call in progress any
    more (the demo was loaded a while ago), a new one is started, so the example requests
    still find one. Call outside a transaction: each recording commits on its own (see
    calls.services.store_recording).
    """
    now = timezone.now()
    planned = planned_calls(count, now)
    with transaction.atomic():
        existing = set(
            Call.objects.filter(pk__in=[c.pk for c in planned]).values_list("pk", flat=True)
        )
        new = [call for call in planned if call.pk not in existing]
        Call.objects.bulk_create(new)
        created = len(new)
        if not _in_progress_on(BUSY_EXTENSION, now):
            # The same parties as the first demo call, which involves the busy extension.
            first = planned[0]
            Call.objects.create(
                caller_number=first.caller_number,
                caller_name=first.caller_name,
                called_number=first.called_number,
                called_name=first.called_name,
                started_at=now - timedelta(minutes=3),
                direction=first.direction,
            )
            created += 1
    recorded = _record(planned)
    _annotate(planned)
    ids = [c.pk for c in planned]
    recorded_call = (
        Call.objects.filter(pk__in=ids, ended_at__isnull=False)
        .exclude(recording="")
        .order_by("-started_at")
        .first()
    )
    return Loaded(
        calls=Call.objects.count(),
        created=created,
        recorded=recorded,
        busy_extension=BUSY_EXTENSION,
        recorded_call=recorded_call,
    )


def _in_progress_on(number: str, now: datetime) -> bool:
    candidates = Call.objects.filter(
        Q(caller_number=number) | Q(called_number=number), ended_at__isnull=True
    )
    return any(call_state(call, now) == State.IN_PROGRESS for call in candidates)


def _record(planned: list[Call]) -> int:
    """Attach recordings to the newest finished demo calls.

    Only when no demo call has a recording yet: on a re-run, a recording an administrator
    removed stays removed.
    """
    ids = [c.pk for c in planned]
    if Call.objects.filter(pk__in=ids).exclude(recording="").exists():
        return 0
    chosen = Call.objects.filter(pk__in=ids, ended_at__isnull=False, recording="").order_by(
        "-started_at"
    )[:RECORDED_CALLS]
    recorded = 0
    for call in chosen:
        if call.duration is None:  # chosen among ended calls: never
            continue
        seconds = min(4 + (call.pk.int % 5), max(int(call.duration.total_seconds()), 2))
        audio = synthetic_recording(seconds, seed=call.pk.int)
        store_recording(call, io.BytesIO(audio), RECORDING_CONTENT_TYPE)
        recorded += 1
    return recorded


# Custom fields a newcomer sees on the call pages and can set with AttachMetaData.
METADATA_FIELDS = (("ticket", "Ticket"), ("customer_id", "Customer"))


def _annotate(planned: list[Call]) -> None:
    """Custom fields and markers to look at: the fields exist, every third demo call has a
    ticket and a customer, and each recorded call has two markers on its timeline. Only
    what is missing is added, so an administrator's edits stay."""
    fields = [
        MetadataField.objects.get_or_create(identifier=identifier, defaults={"label": label})[0]
        for identifier, label in METADATA_FIELDS
    ]
    ids = [c.pk for c in planned[::3]]
    with_values = set(
        MetadataValue.objects.filter(call_id__in=ids).values_list("call_id", flat=True)
    )
    present = set(Call.objects.filter(pk__in=ids).values_list("pk", flat=True))
    MetadataValue.objects.bulk_create(
        MetadataValue(call_id=pk, field=field, value=value)
        for n, pk in enumerate(ids)
        if pk in present and pk not in with_values
        for field, value in zip(
            fields, (f"T-{4100 + n}", f"C{pk.int % 90000 + 10000}"), strict=True
        )
    )
    recorded = Call.objects.filter(pk__in=[c.pk for c in planned]).exclude(recording="")
    marked = set(Marker.objects.filter(call__in=recorded).values_list("call_id", flat=True))
    Marker.objects.bulk_create(
        marker
        for call_id in recorded.values_list("pk", flat=True)
        if call_id not in marked
        for marker in (
            Marker(call_id=call_id, name="Greeting", start_ms=0, end_ms=1500),
            Marker(call_id=call_id, name="Question", start_ms=2000, end_ms=3500),
        )
    )


def synthetic_recording(seconds: float, *, seed: int) -> bytes:
    """A mono 16-bit WAV that looks and sounds like a short conversation: two voices taking
    turns in syllable-like bursts over faint line noise, with pauses between turns.

    Built by joining precomputed syllables and noise (see `_sounds`), so a recording costs
    next to nothing however many the demo makes.
    """
    rng = random.Random(seed)
    sounds = _sounds()
    total_bytes = 2 * int(seconds * RECORDING_RATE)
    pieces: list[bytes] = []
    size = 0

    def add(piece: bytes) -> None:
        nonlocal size
        pieces.append(piece)
        size += len(piece)

    add(_pause(sounds, rng, 0.1, 0.3))
    speaker = rng.randrange(2)
    while size < total_bytes:
        for _ in range(rng.randint(2, 6)):
            add(rng.choice(sounds.syllables[speaker]))
        add(_pause(sounds, rng, 0.2, 0.6))
        speaker = 1 - speaker
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RECORDING_RATE)
        out.writeframes(b"".join(pieces)[:total_bytes])
    return buffer.getvalue()


@dataclass(frozen=True)
class _Sounds:
    syllables: tuple[tuple[bytes, ...], tuple[bytes, ...]]  # per voice, as 16-bit samples
    noise: bytes


@functools.cache
def _sounds() -> _Sounds:
    """Syllables of two voices (a low and a higher pitch: a tone with two overtones under a
    rounded envelope, at a few lengths and loudnesses), and a second of line noise."""
    rng = random.Random(8856)
    rate = RECORDING_RATE
    noise = array.array("h", (int(rng.gauss(0, 120)) for _ in range(rate)))
    voices = []
    for pitch in (118.0, 212.0):
        syllables = []
        for length in (0.14, 0.2, 0.26, 0.32):
            for loudness in (0.45, 0.7, 1.0):
                count = int(length * rate)
                samples = array.array("h", bytes(2 * count))
                for i in range(count):
                    t = i / rate
                    envelope = math.sin(math.pi * i / count) ** 2
                    phase = 2 * math.pi * pitch * (1 + 0.04 * math.sin(9 * t)) * t
                    tone = math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase)
                    value = 7000 * loudness * envelope * tone + noise[i]
                    samples[i] = max(-32768, min(32767, int(value)))
                syllables.append(samples.tobytes())
        voices.append(tuple(syllables))
    return _Sounds(syllables=(voices[0], voices[1]), noise=noise.tobytes())


def _pause(sounds: _Sounds, rng: random.Random, shortest: float, longest: float) -> bytes:
    length = 2 * int(rng.uniform(shortest, longest) * RECORDING_RATE)
    start = 2 * rng.randrange(len(sounds.noise) // 2 - length // 2)
    return sounds.noise[start : start + length]


def base_url(bind: str | None = None) -> str:
    """Where `make demo` serves the app: PUBLIC_URL, else gunicorn's BIND as a URL."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    bind = (bind or "127.0.0.1:8000").split(",")[0].strip()
    if bind.startswith("unix:"):
        return "http://127.0.0.1:8000"  # served on a socket; a proxy decides the URL
    if bind.startswith("["):
        host, _, port = bind[1:].partition("]:")
        host = f"[{host}]"
    elif ":" in bind:
        host, _, port = bind.rpartition(":")
    else:
        host, port = bind, "8000"
    # A wildcard address listens everywhere; this machine reaches it on loopback.
    host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://{host}:{port}" if port != "80" else f"http://{host}"
