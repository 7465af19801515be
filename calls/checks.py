"""System checks: a recording type that is not audio is reported at start-up."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from recordings import types as recording_types


def check_recording_types(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    wrong = [
        t
        for t in settings.RECORDING_CONTENT_TYPES
        if not recording_types.is_audio_type(recording_types.normalize(t))
    ]
    if not wrong:
        return []
    return [
        Error(
            f"RECORDING_CONTENT_TYPES may list audio types only (audio/…); not {', '.join(wrong)}. "
            "Recordings are served from the site's own origin: any other type could run there.",
            id="calls.E001",
        )
    ]
