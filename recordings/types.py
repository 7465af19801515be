"""What counts as a recording: the allowed audio content types and the bytes each starts with.

(recordings.audio decodes and transcodes recordings; this module only judges uploads by type and
first bytes, and never parses them.)

A declared content type is only a claim. A recording is stored when its type is allowed
(`RECORDING_CONTENT_TYPES`, audio types only) and its first bytes are that kind of audio,
so that an HTML page renamed `call.wav` and sent as `audio/wav` is refused. Serving asks the
same module, so a stored type outside the allow-list is never sent as such.
"""

from collections.abc import Callable

from django.conf import settings

HEAD_BYTES = 64
"""How many leading bytes `sniff` needs."""


def _wav(head: bytes) -> bool:
    # RF64 and BW64 are the large-file (> 4 GiB) variants recorders write.
    return head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE"


def _mpeg(head: bytes) -> bool:
    # An ID3 tag, or an MPEG audio frame header: 11 sync bits, and a layer that is not 0.
    if head.startswith(b"ID3"):
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _adts(head: bytes) -> bool:
    # AAC in ADTS frames: 12 sync bits, layer 0.
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


# Each kind of audio, recognised by its first bytes.
_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "wav": _wav,
    "mpeg": _mpeg,
    "aac": _adts,
    "ogg": lambda head: head.startswith(b"OggS"),
    "webm": lambda head: head.startswith(b"\x1a\x45\xdf\xa3"),  # EBML (WebM, Matroska)
    "mp4": lambda head: head[4:8] == b"ftyp",
    "flac": lambda head: head.startswith(b"fLaC"),
    "basic": lambda head: head.startswith(b".snd"),  # Sun/NeXT .au
}

# The kind of audio each well-known content type promises.
KINDS: dict[str, str] = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mpeg",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/webm": "webm",
    "audio/mp4": "mp4",
    "audio/flac": "flac",
    "audio/basic": "basic",
}

# Names browsers and tools use for the same types (a browser uploading `call.m4a` says
# audio/x-m4a): accepted as the allowed name they stand for.
_ALIASES = {
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-flac": "audio/flac",
    "audio/x-aac": "audio/aac",
}

EXTENSIONS: dict[str, str] = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/aac": ".aac",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/flac": ".flac",
    "audio/basic": ".au",
}


def normalize(content_type: str) -> str:
    """`Audio/WAV; codecs=1` → `audio/wav`."""
    return content_type.split(";", 1)[0].strip().lower()


def allowed_types() -> list[str]:
    """The configured `RECORDING_CONTENT_TYPES`, lower case; anything but audio/* is ignored
    (the system check calls.E001 reports it)."""
    return [t for t in (normalize(t) for t in settings.RECORDING_CONTENT_TYPES) if is_audio_type(t)]


def is_audio_type(content_type: str) -> bool:
    main, slash, sub = content_type.partition("/")
    return main == "audio" and bool(slash) and bool(sub) and "," not in sub and " " not in sub


def accepted_type(declared: str) -> str | None:
    """The allowed content type a declared one stands for, or None when it is not allowed."""
    content_type = normalize(declared)
    allowed = allowed_types()
    if content_type in allowed:
        return content_type
    alias = _ALIASES.get(content_type)
    return alias if alias in allowed else None


def sniff(head: bytes) -> str | None:
    """The kind of audio `head` (the first HEAD_BYTES of a file) starts, or None."""
    for kind, matches in _SIGNATURES.items():
        if matches(head):
            return kind
    return None


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether the bytes are the audio `content_type` promises.

    A well-known type must match its own signature (a WAV must start as a WAV); a configured
    type this module does not know must at least start as some known audio.
    """
    kind = sniff(head)
    expected = KINDS.get(content_type)
    return kind is not None and (expected is None or kind == expected)


def servable_type(stored: str) -> str | None:
    """The content type to serve a stored recording with, or None to serve it as an opaque
    download: only allowed or well-known audio types are ever sent as such."""
    content_type = normalize(stored)
    if content_type in KINDS or content_type in allowed_types():
        return content_type
    return None
