"""The one representation of a ledger entry, for the admin's CSV and the JSON API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from retention.models import DeletionEntry

# The contract's names and order (docs/retention.md).
FIELDS = ("call", "started_on", "deleted_at", "reason", "by", "recording_sha256")


def as_dict(entry: DeletionEntry) -> dict[str, Any]:
    return {
        "call": str(entry.call),
        "started_on": entry.started_on.isoformat(),
        "deleted_at": entry.deleted_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "reason": entry.reason,
        "by": entry.by or None,
        "recording_sha256": entry.recording_sha256 or None,
    }


def csv_lines(entries: Iterable[DeletionEntry]) -> Iterator[str]:
    """The entries as CSV, a header first; one string per row, for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(FIELDS)
    for entry in entries:
        row = as_dict(entry)
        yield line("" if row[f] is None else row[f] for f in FIELDS)
