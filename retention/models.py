"""What callportal keeps and forgets: retention rules (and their history), legal holds, the
deletion ledger and the recording files still to be removed.

None of these points at a call row: a rule or hold describes calls by their field values, a
ledger entry outlives its call, and a file to remove belongs to a call that is gone. So
this room sits below `calls` (docs/architecture.md) and `calls/deletion.py` can use it.
"""

from __future__ import annotations

from django.core.validators import MinLengthValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual

from directory.models import Group
from shared.directions import Direction

NAME_MAX_LENGTH = 100
PREFIX_MAX_LENGTH = 64


class RetentionRule(models.Model):
    """Calls matching every condition given here are kept `keep_days` after their end.

    A rule without conditions matches every call. Where several rules match a call, the
    longest `keep_days` wins (retention/conditions.py).
    """

    name = models.CharField(
        max_length=NAME_MAX_LENGTH,
        unique=True,
        validators=[MinLengthValidator(1)],
        help_text="Shown in the deletion ledger as retention:<name>.",
    )
    keep_days = models.PositiveIntegerField(
        "keep (days)",
        validators=[MinValueValidator(1)],
        help_text="A matching call is deleted this many days after it ended.",
    )
    number_prefix = models.CharField(
        max_length=PREFIX_MAX_LENGTH,
        blank=True,
        help_text="Calls where the caller or the called number starts with this. Empty: any.",
    )
    direction = models.CharField(
        max_length=16, choices=Direction.choices, blank=True, help_text="Empty: any direction."
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="retention_rules",
        help_text="Calls in the own scope of any of these groups' members. Empty: anyone's.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-keep_days", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(keep_days__gte=1), name="retentionrule_keep_days_positive"
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("name"), 1), name="retentionrule_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.keep_days} days)"


class RuleChange(models.Model):
    """One change of a rule: who, when, and the rule before and after (null when created or
    deleted). Written by retention.services only; read-only everywhere."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        CHANGED = "changed", "Changed"
        DELETED = "deleted", "Deleted"

    rule_name = models.CharField(max_length=NAME_MAX_LENGTH, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    at = models.DateTimeField(db_index=True)
    by = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "retention rule change"

    def __str__(self) -> str:
        return f"{self.rule_name} {self.action} by {self.by or '-'} at {self.at:%Y-%m-%d %H:%M}"


class LegalHold(models.Model):
    """Calls that no path may delete while the hold is active: those of `numbers` (either
    party) that started within [`starts_from`, `starts_until`) (either end open), and the
    calls listed in `call_ids`."""

    name = models.CharField(
        max_length=NAME_MAX_LENGTH, unique=True, validators=[MinLengthValidator(1)]
    )
    reason = models.TextField(validators=[MinLengthValidator(1)])
    numbers = models.JSONField(default=list, blank=True, help_text="Phone numbers (either party).")
    starts_from = models.DateTimeField(
        "calls started from", null=True, blank=True, help_text="Empty: no lower bound."
    )
    starts_until = models.DateTimeField(
        "calls started before", null=True, blank=True, help_text="Empty: no upper bound."
    )
    call_ids = models.JSONField("call IDs", default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=255, blank=True, editable=False)
    released_at = models.DateTimeField(null=True, blank=True, editable=False)
    released_by = models.CharField(max_length=255, blank=True, editable=False)
    release_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(released_at__isnull=True),
                name="legalhold_active",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def active(self) -> bool:
        return self.released_at is None


class DeletionEntry(models.Model):
    """One deleted call, kept after the call is gone: proof of the deletion without what
    was deleted (no numbers, names or metadata)."""

    call = models.UUIDField("call ID", db_index=True)
    started_on = models.DateField("started on (UTC)")
    deleted_at = models.DateTimeField()
    reason = models.CharField(max_length=NAME_MAX_LENGTH + 16)
    by = models.CharField(max_length=255, blank=True)
    recording_sha256 = models.CharField("recording SHA-256", max_length=64, blank=True)

    class Meta:
        ordering = ["deleted_at", "id"]
        verbose_name = "deletion ledger entry"
        verbose_name_plural = "deletion ledger"
        # The feed's order and its `since` (retention.selectors.ledger_page).
        indexes = [models.Index(fields=["deleted_at", "id"], name="deletionentry_feed")]

    def __str__(self) -> str:
        return f"{self.call} deleted {self.deleted_at:%Y-%m-%d %H:%M} ({self.reason})"


class PendingFileDeletion(models.Model):
    """A recording file of a deleted call, still to be removed from storage.

    Written in the transaction that deletes the call, removed once the file is gone: after
    a crash, or when the storage refused, the next retention run removes it.
    """

    name = models.CharField("file", max_length=255)
    call = models.UUIDField("call ID", db_index=True)
    queued_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "recording file still to delete"
        verbose_name_plural = "recording files still to delete"

    def __str__(self) -> str:
        return self.name
