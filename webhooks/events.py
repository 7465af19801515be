"""The event catalogue and the bodies sent (docs/webhooks.md shows an example of each).

A body is built once, when the change is written, and stored as the bytes sent: a retry
days later sends the call as it was when the event happened, and a deleted call still has
its `call.deleted` body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from calls.models import Call
from calls.signals import Change, Changed

STARTED = "call.started"
ENDED = "call.ended"
RECORDING_READY = "call.recording_ready"
UPDATED = "call.updated"
DELETED = "call.deleted"

EVENT_TYPES: tuple[str, ...] = (STARTED, ENDED, RECORDING_READY, UPDATED, DELETED)

_TYPES = {
    Change.STARTED: STARTED,
    Change.ENDED: ENDED,
    Change.RECORDING_READY: RECORDING_READY,
    Change.UPDATED: UPDATED,
    Change.DELETED: DELETED,
}


def event_type(change: Change) -> str:
    return _TYPES[change]


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC to the millisecond, with a Z: `2026-12-07T10:15:02.123Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _moment(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


def call_data(call: Call) -> dict[str, Any]:
    return {
        "id": str(call.pk),
        "native_id": call.native_id,
        "caller_number": call.caller_number,
        "called_number": call.called_number,
        "started_at": _moment(call.started_at),
        "ended_at": _moment(call.ended_at),
        "direction": call.direction or None,
        "has_recording": bool(call.recording),
        "kept": call.keep,
    }


def deleted_data(changed: Changed, call: Call, at: datetime) -> dict[str, Any]:
    """The id and the deletion ledger's fields (retention.md §4): no numbers, no names."""
    started = call.started_at.astimezone(UTC).date().isoformat() if call.started_at else None
    # The digest of the recording, where the recording has one (retention keeps it).
    digest = getattr(call, "recording_sha256", "") or None
    return {
        "id": str(call.pk),
        "started_on": started,
        "deleted_at": timestamp(changed.at or at),
        "reason": changed.reason or None,
        "by": changed.by or None,
        "recording_sha256": digest,
    }


def body(changed: Changed, call: Call, at: datetime) -> str:
    """The JSON body of the event `changed` reports about `call`, happening at `at`."""
    kind = event_type(changed.change)
    deleted = changed.change is Change.DELETED
    data = deleted_data(changed, call, at) if deleted else call_data(call)
    return json.dumps(
        {"type": kind, "timestamp": timestamp(at), "data": data},
        ensure_ascii=False,
        separators=(", ", ": "),
    )
