"""Calls with stored recordings, and what is left of them on disk and in the database."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from calls.models import Call
from calls.services import store_recording
from calls.tests.factories import CallFactory


def audio(tag: str) -> bytes:
    """A small WAV-looking recording, different for each tag."""
    return b"RIFF\x24\x00\x00\x00WAVEfmt " + tag.encode() * 8


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def ended_days_ago(days: float, *, recording: bool = True, **fields: object) -> Call:
    """A finished call that ended `days` days ago, with a stored recording."""
    end = timezone.now() - timedelta(days=days)
    fields.setdefault("started_at", end - timedelta(minutes=5))
    call = CallFactory(ended_at=end, **fields)
    if recording:
        store_recording(call, io.BytesIO(audio(str(call.pk))), "audio/wav")
        call.refresh_from_db()
    return call


def exists(call: Call) -> bool:
    return Call.objects.filter(pk=call.pk).exists()


def files_under(root: Path) -> set[str]:
    """Every file under the media root, as storage names."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
