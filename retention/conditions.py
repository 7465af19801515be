"""Which calls a rule matches, which are held, and which are due: conditions on a call's
field names (`caller_number`, `called_number`, `direction`, `started_at`, `ended_at`,
`keep`, `id`; a rule's groups through directory.scopes, written the same way), so that
the deletion paths in `calls` can use them without this room importing `calls`.

The one definition of "due" (contract: docs/retention.md):
- A call matched by several rules follows the one with the longest `keep_days` (ties: the
  first name): it is governed by that rule and due when it ended more than that many days
  ago. A call no rule matches follows RETENTION_DEFAULT_DAYS (unset: never due).
- Never due: a kept call (KeepCall), a held call (an active legal hold), a call without an
  end (in progress, or its end was never recorded).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from directory.scopes import members_scope
from retention.models import LegalHold, RetentionRule

# Matches no call: Django answers an empty `pk__in` without asking the database.
NOTHING = Q(pk__in=[])

DEFAULT_REASON = "default"


def reason_for(rule: RetentionRule | None) -> str:
    """The ledger's reason for a call deleted under `rule` (None: the default)."""
    return DEFAULT_REASON if rule is None else f"retention:{rule.name}"


def number_q(numbers: Iterable[str]) -> Q:
    """Calls where either party is one of `numbers`."""
    numbers = list(numbers)
    return Q(caller_number__in=numbers) | Q(called_number__in=numbers)


def rule_q(rule: RetentionRule) -> Q | None:
    """The calls `rule` matches; None when it has no condition (it matches every call)."""
    parts: list[Q] = []
    if rule.number_prefix:
        parts.append(
            Q(caller_number__startswith=rule.number_prefix)
            | Q(called_number__startswith=rule.number_prefix)
        )
    if rule.direction:
        parts.append(Q(direction=rule.direction))
    groups = [g.pk for g in rule.groups.all()] if rule.pk is not None else []
    if groups:
        parts.append(members_scope(groups).condition())
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition &= part
    return condition


def hold_q(hold: LegalHold) -> Q:
    """The calls `hold` holds (whether or not it is still active)."""
    held = NOTHING
    if hold.numbers or hold.starts_from or hold.starts_until:
        by_numbers = number_q(hold.numbers) if hold.numbers else Q()
        if hold.starts_from is not None:
            by_numbers &= Q(started_at__gte=hold.starts_from)
        if hold.starts_until is not None:
            by_numbers &= Q(started_at__lt=hold.starts_until)
        held = by_numbers
    if hold.call_ids:
        by_id = Q(id__in=list(hold.call_ids))
        held = by_id if held is NOTHING else held | by_id
    return held


def held_q(holds: Sequence[LegalHold]) -> Q:
    """The calls any of `holds` holds (pass the active ones: retention.selectors)."""
    held = NOTHING
    for hold in holds:
        condition = hold_q(hold)
        held = condition if held is NOTHING else held | condition
    return held


def subject_q(holds: Sequence[LegalHold]) -> Q:
    """Calls that retention may delete at all: not kept, not held."""
    condition = Q(keep=False)
    if holds:
        condition &= ~held_q(holds)
    return condition


@dataclass(frozen=True)
class Step:
    """The calls one rule (or the default, `rule` None) governs, and when they are due."""

    rule: RetentionRule | None
    keep_days: int | None  # None: the default is unset, these calls are kept for ever
    governs: Q  # the calls this rule decides for (longest retention wins)

    @property
    def reason(self) -> str:
        return reason_for(self.rule)

    @property
    def label(self) -> str:
        return self.rule.name if self.rule is not None else "(no rule: RETENTION_DEFAULT_DAYS)"

    def cutoff(self, now: datetime) -> datetime | None:
        return None if self.keep_days is None else now - timedelta(days=self.keep_days)

    def due_q(self, now: datetime) -> Q:
        """The governed calls due at `now`, before exemptions (`subject_q`)."""
        cutoff = self.cutoff(now)
        if cutoff is None or self.governs is NOTHING:
            return NOTHING
        # A call ends after it starts: the start bound is implied, and lets the database
        # walk the start-time index instead of reading every call.
        return self.governs & Q(ended_at__lte=cutoff, started_at__lte=cutoff)


def default_days() -> int | None:
    return settings.RETENTION_DEFAULT_DAYS


def plan(rules: Iterable[RetentionRule], default: int | None) -> list[Step]:
    """One step per rule, longest retention first, then the default's step.

    Each step governs the calls its rule matches that no longer rule (or earlier name at
    equal length) matches, so every call is governed by exactly one step.
    """
    ordered = sorted(rules, key=lambda r: (-r.keep_days, r.name))
    steps: list[Step] = []
    taken: Q | None = None  # calls governed by an earlier step
    everything_taken = False
    for rule in ordered:
        match = rule_q(rule)
        if everything_taken:
            governs = NOTHING
        elif match is None:
            governs = Q() if taken is None else ~taken
            everything_taken = True
        else:
            governs = match if taken is None else match & ~taken
            taken = match if taken is None else taken | match
        steps.append(Step(rule=rule, keep_days=rule.keep_days, governs=governs))
    rest = NOTHING if everything_taken else (Q() if taken is None else ~taken)
    steps.append(Step(rule=None, keep_days=default, governs=rest))
    return steps
