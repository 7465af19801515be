"""The Business API's reference, `docs/api.md`, served as it is written (Markdown, which reads
as plain text) at `/verba/docs`, so that staff and integrators reach it from the staff home
page without a copy of the repository. Public, as the ingestion API's docs are: it holds no
secret (its examples use placeholders and the demo's data).
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

REFERENCE = Path(settings.BASE_DIR) / "docs" / "api.md"


@functools.cache
def _text() -> bytes:
    # Read once per process: the file changes only with a release.
    return REFERENCE.read_bytes()


@require_safe
def api_reference(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_text(), content_type="text/plain; charset=utf-8")
    # Shown as text, never sniffed into anything else.
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=3600"
    return response
