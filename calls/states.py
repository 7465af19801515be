"""The one definition of a call's state, for the Business API, the staff pages and the admin.

- **In progress**: started (start ≤ now) and not ended: either no end yet, or an end still to
  come (a PBX that reports the planned end, or clocks a little apart). A call without an end
  that started longer than MAX_CALL_LENGTH_HOURS ago has most likely lost its "call ended"
  event and is not in progress; a call with a known end is never cut short that way
  (contract §5, `status=ongoing`).
- **Finished**: its end is now or earlier.
- **No end recorded**: no end, started longer than MAX_CALL_LENGTH_HOURS ago.
- **Not started yet**: its start is still to come (clocks apart, or a scheduled call).

Each state is offered as a predicate on one call and as a Q for querysets; the two agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from calls.models import Call


class State:
    ANY = ""
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"
    NO_END = "no_end"
    NOT_STARTED = "not_started"


# The one vocabulary: the admin, the staff pages and their filters say these words.
LABELS: dict[str, str] = {
    State.IN_PROGRESS: "In progress",
    State.FINISHED: "Finished",
    State.NO_END: "No end recorded",
    State.NOT_STARTED: "Not started yet",
}
# What the filters offer (a call not started yet is rare enough to need no filter).
FILTER_CHOICES: list[tuple[str, str]] = [
    (state, LABELS[state]) for state in (State.IN_PROGRESS, State.FINISHED, State.NO_END)
]


def max_call_length() -> timedelta:
    return timedelta(hours=settings.MAX_CALL_LENGTH_HOURS)


def no_end_yet(now: datetime) -> Q:
    """Without an end, and recent enough to be going on (the first way to be in progress)."""
    return Q(ended_at__isnull=True, started_at__gt=now - max_call_length())


def end_to_come(now: datetime) -> Q:
    """With an end still in the future (the second way to be in progress)."""
    return Q(ended_at__gt=now)


def state_q(state: str, now: datetime | None = None) -> Q:
    """The calls in `state` at `now`, as a filter; State.ANY is every call."""
    now = now or timezone.now()
    if state == State.IN_PROGRESS:
        return Q(started_at__lte=now) & (no_end_yet(now) | end_to_come(now))
    if state == State.FINISHED:
        return Q(ended_at__lte=now)
    if state == State.NO_END:
        return Q(ended_at__isnull=True, started_at__lte=now - max_call_length())
    if state == State.NOT_STARTED:
        return Q(started_at__gt=now) & (Q(ended_at__isnull=True) | end_to_come(now))
    return Q()


def call_state(call: Call, now: datetime | None = None) -> str:
    """The state of one call at `now` (the same answer as `state_q`)."""
    now = now or timezone.now()
    if call.ended_at is not None and call.ended_at <= now:
        return State.FINISHED
    if call.started_at > now:
        return State.NOT_STARTED
    if call.ended_at is not None or call.started_at > now - max_call_length():
        return State.IN_PROGRESS
    return State.NO_END
