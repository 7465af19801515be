"""Writes to rules and holds, each change recorded; the ledger's and the file queue's rows.

Every entry point (the admin, `manage.py retention_rule`, `manage.py legal_hold`) changes
rules and holds through here, so that no change goes unrecorded.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, DateTimeField, F, IntegerField, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from directory.models import Group
from retention.models import (
    DeletionEntry,
    LegalHold,
    PendingFileDeletion,
    RetentionRule,
    RuleChange,
)
from shared.bulk import insert_from

# The ledger's reasons besides retention's (retention.conditions.reason_for).
DELETE_CALL = "DeleteCall"
ADMIN = "admin"

HELD_MESSAGE = "The call is under legal hold."


def snapshot(rule: RetentionRule) -> dict[str, Any]:
    """A rule's settings as recorded in its history."""
    return {
        "name": rule.name,
        "keep_days": rule.keep_days,
        "number_prefix": rule.number_prefix,
        "direction": rule.direction,
        "groups": sorted(g.name for g in rule.groups.all()) if rule.pk is not None else [],
    }


def save_rule(
    rule: RetentionRule, *, by: str, groups: Iterable[Group] | None = None
) -> RuleChange | None:
    """Validate and save `rule` (and its `groups`, when given), recording the change with
    the rule as stored before and after; None when nothing changed."""
    rule.full_clean()
    with transaction.atomic():
        before = None
        if rule.pk is not None:
            stored = RetentionRule.objects.select_for_update().filter(pk=rule.pk).first()
            before = snapshot(stored) if stored is not None else None
        rule.save()
        if groups is not None:
            rule.groups.set(groups)
        after = snapshot(rule)
        if before == after:
            return None
        return RuleChange.objects.create(
            rule_name=rule.name,
            action=RuleChange.Action.CHANGED if before else RuleChange.Action.CREATED,
            at=timezone.now(),
            by=by,
            before=before,
            after=after,
        )


def delete_rule(rule: RetentionRule, *, by: str) -> RuleChange:
    with transaction.atomic():
        change = RuleChange.objects.create(
            rule_name=rule.name,
            action=RuleChange.Action.DELETED,
            at=timezone.now(),
            by=by,
            before=snapshot(rule),
            after=None,
        )
        rule.delete()
    return change


def create_hold(
    name: str,
    *,
    reason: str,
    by: str,
    numbers: list[str] | None = None,
    starts_from: datetime | None = None,
    starts_until: datetime | None = None,
    call_ids: list[uuid.UUID] | None = None,
) -> LegalHold:
    """Create an active hold. ValidationError when it names no calls or is malformed."""
    hold = LegalHold(
        name=name,
        reason=reason,
        numbers=list(numbers or []),
        starts_from=starts_from,
        starts_until=starts_until,
        call_ids=[str(c) for c in call_ids or []],
        created_by=by,
    )
    clean_hold(hold)
    hold.save()
    return hold


def clean_hold(hold: LegalHold) -> None:
    """The rules of a hold: its fields, and what it holds (`check_held_calls`)."""
    hold.full_clean()
    if not hold.reason.strip():
        raise ValidationError({"reason": "A hold needs a reason."})
    check_held_calls(hold)


def check_held_calls(hold: LegalHold) -> None:
    """What a hold holds, for the admin's form and the command alike: numbers, call IDs
    (normalised here), a range, not nothing."""
    errors: dict[str, str] = {}
    if not isinstance(hold.numbers, list) or not all(
        isinstance(n, str) and n.strip() for n in hold.numbers
    ):
        errors["numbers"] = "Numbers must be a list of phone numbers."
    else:
        hold.numbers = sorted({n.strip() for n in hold.numbers})
    try:
        hold.call_ids = sorted({str(uuid.UUID(str(c))) for c in hold.call_ids or []})
    except ValueError:
        errors["call_ids"] = "Call IDs must be GUIDs."
    if not (hold.numbers or hold.call_ids or hold.starts_from or hold.starts_until):
        errors["numbers"] = (
            "A hold names numbers (with an optional time range), call IDs, or a time range."
        )
    if hold.starts_from and hold.starts_until and hold.starts_until <= hold.starts_from:
        errors["starts_until"] = "The end of the range must be after its start."
    if errors:
        raise ValidationError(errors)


def release_hold(hold: LegalHold, *, by: str, reason: str) -> LegalHold:
    """Release an active hold, recording who and why. Its calls follow their rules again."""
    if not reason.strip():
        raise ValidationError({"release_reason": "A release needs a reason."})
    with transaction.atomic():
        locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if locked.released_at is not None:
            raise ValidationError(f"The hold {locked.name} was released already.")
        locked.released_at = timezone.now()
        locked.released_by = by
        locked.release_reason = reason.strip()
        locked.save(update_fields=["released_at", "released_by", "release_reason"])
    return locked


def record_deletions(calls: QuerySet[Any], *, reason: str, by: str, deleted_at: datetime) -> int:
    """Write one ledger entry per call of `calls` and queue each one's recording file, in
    the caller's transaction, before it deletes them; returns how many files were queued.

    `calls` are rows of the calls table (this room names its fields, not its model: it sits
    below `calls`). The database copies the rows (INSERT ... SELECT): a retention batch
    writes thousands, and no value of theirs needs to pass through Python."""
    insert_from(
        DeletionEntry,
        {
            "call": F("pk"),
            "started_on": TruncDate("started_at", tzinfo=UTC),
            "deleted_at": Value(deleted_at, output_field=DateTimeField()),
            "reason": Value(reason, output_field=CharField()),
            "by": Value(by, output_field=CharField()),
            "recording_sha256": F("recording_sha256"),
        },
        calls,
    )
    return insert_from(
        PendingFileDeletion,
        {
            "name": F("recording"),
            "call": F("pk"),
            "queued_at": Value(deleted_at, output_field=DateTimeField()),
            "attempts": Value(0, output_field=IntegerField()),
            "last_error": Value("", output_field=CharField()),
        },
        calls.exclude(recording=""),
    )


def command_user() -> str:
    """Who a management command acts for: the operating-system account running it."""
    try:
        account = getpass.getuser()
    except (KeyError, OSError):
        account = "unknown"
    return f"manage.py ({account})"
