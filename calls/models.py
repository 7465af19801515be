import uuid
from datetime import timedelta

from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual
from django.urls import reverse
from django.utils import timezone

NUMBER_MAX_LENGTH = 64


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    INTERNAL = "internal", "Internal"


def recording_path(call: "Call", filename: str) -> str:
    # One folder per day keeps directories small on installs with millions of recordings.
    day = (call.started_at or timezone.now()).strftime("%Y/%m/%d")
    return f"recordings/{day}/{call.pk}{_suffix(filename)}"


def _suffix(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot > 0 and len(filename) - dot <= 6 else ""


class Call(models.Model):
    """One call as the recorder saw it: a Verba CDR (`ccdr_id` is our primary key)."""

    id = models.UUIDField("call ID", primary_key=True, default=uuid.uuid4, editable=True)
    caller_number = models.CharField(
        max_length=NUMBER_MAX_LENGTH, validators=[MinLengthValidator(1)]
    )
    caller_name = models.CharField(max_length=255, blank=True)
    called_number = models.CharField(
        max_length=NUMBER_MAX_LENGTH, validators=[MinLengthValidator(1)]
    )
    called_name = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField("start")
    # Empty while the call is in progress.
    ended_at = models.DateTimeField("end", null=True, blank=True)
    direction = models.CharField(max_length=16, choices=Direction.choices, blank=True)
    native_id = models.CharField("native ID", max_length=255, blank=True)
    platform_call_id = models.CharField("platform call ID", max_length=255, blank=True)
    keep = models.BooleanField(default=False, help_text="Never delete this call.")
    recording = models.FileField(upload_to=recording_path, blank=True, max_length=255)
    recording_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # "The number is the caller OR the called party" is answered from one index per
            # column (two scans merged, or a BitmapOr), never an OR sorted across both
            # columns: see calls/selectors.py.
            # (number, ended_at) serves `last` and `ongoing` (ended_at IS NULL);
            # (number, started_at) serves `next` (the long-poll watcher looks up the waited-for
            # numbers' calls by start time) and newest-first searches by number.
            models.Index(fields=["caller_number", "ended_at"], name="call_caller_ended"),
            models.Index(fields=["called_number", "ended_at"], name="call_called_ended"),
            models.Index(fields=["caller_number", "started_at"], name="call_caller_started"),
            models.Index(fields=["called_number", "started_at"], name="call_called_started"),
            # Newest-first lists and date ranges without a number.
            models.Index(fields=["started_at"], name="call_started"),
            # "In progress" lists: a small index of the few calls without an end.
            models.Index(
                fields=["started_at"],
                condition=models.Q(ended_at__isnull=True),
                name="call_in_progress",
            ),
            models.Index(fields=["native_id"], name="call_native_id"),
            models.Index(fields=["platform_call_id"], name="call_platform_call_id"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="call_ends_after_start",
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("caller_number"), 1)
                & GreaterThanOrEqual(Length("called_number"), 1),
                name="call_numbers_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.caller_number} → {self.called_number} ({self.started_at:%Y-%m-%d %H:%M})"

    def get_absolute_url(self) -> str:
        return reverse("calls:detail", kwargs={"pk": self.pk})

    @property
    def in_progress(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta | None:
        """Length of a finished call, or running time so far of one in progress."""
        end = self.ended_at or timezone.now()
        return max(end - self.started_at, timedelta(0)) if self.started_at else None
