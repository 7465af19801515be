import uuid
from collections.abc import Callable, Collection
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Length, Lower
from django.db.models.lookups import GreaterThanOrEqual
from django.urls import reverse
from django.utils import timezone

# Direction is defined in shared: retention rules match calls by it too.
from shared.directions import Direction
from shared.numbers import NUMBER_MAX_LENGTH

# A name and the ids other systems give a call. The input rules (calls/rules.py) read these
# lengths from the fields; nothing else writes them out.
TEXT_MAX_LENGTH = 255


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
    caller_name = models.CharField(max_length=TEXT_MAX_LENGTH, blank=True)
    called_number = models.CharField(
        max_length=NUMBER_MAX_LENGTH, validators=[MinLengthValidator(1)]
    )
    called_name = models.CharField(max_length=TEXT_MAX_LENGTH, blank=True)
    started_at = models.DateTimeField("start")
    # Empty while the call is in progress.
    ended_at = models.DateTimeField("end", null=True, blank=True)
    direction = models.CharField(max_length=16, choices=Direction.choices, blank=True)
    native_id = models.CharField("native ID", max_length=TEXT_MAX_LENGTH, blank=True)
    platform_call_id = models.CharField("platform call ID", max_length=TEXT_MAX_LENGTH, blank=True)
    keep = models.BooleanField(default=False, help_text="Never delete this call.")
    # DeleteCall on a call that has not ended: the write that ends it deletes it, and a
    # sweep catches ends written any other way (calls/deletion.py).
    delete_when_ended = models.BooleanField(
        default=False,
        editable=False,
        help_text="Deletion was asked while the call was going on: it is deleted when it ends.",
    )
    # Who asked for the deletion that waits for the call's end: the ledger names them.
    delete_requested_by = models.CharField(max_length=255, blank=True, editable=False)
    recording = models.FileField(upload_to=recording_path, blank=True, max_length=255)
    recording_content_type = models.CharField(max_length=100, blank=True)
    # Hex SHA-256 of the stored recording, computed as it is stored (calls.services); the
    # deletion ledger keeps it as proof of what was deleted. `manage.py hash_recordings`
    # fills it in for recordings stored before it existed.
    recording_sha256 = models.CharField(
        "recording SHA-256", max_length=64, blank=True, editable=False
    )
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
            # The deletion sweep's look: a tiny index of the few calls waiting to be deleted.
            models.Index(
                fields=["ended_at"],
                condition=models.Q(delete_when_ended=True),
                name="call_delete_when_ended",
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


# --- Custom metadata (AttachMetaData) ------------------------------------------------------

IDENTIFIER_MIN_LENGTH = 3
IDENTIFIER_MAX_LENGTH = 128
METADATA_VALUE_MAX_LENGTH = 1000
IDENTIFIER_PATTERN = rf"\A[A-Za-z0-9_-]{{{IDENTIFIER_MIN_LENGTH},{IDENTIFIER_MAX_LENGTH}}}\Z"

# The names a field may not take as its identifier: AttachMetaData reads every parameter of
# a request that is no Business API parameter as a field identifier. Those names are the
# transport's vocabulary (each action declares its own, verba/forms.py), so the transport
# tells the domain at start-up (verba/apps.py) rather than the domain keeping a copy.
_reserved: list[Callable[[], Collection[str]]] = []


def reserve_identifiers(names: Callable[[], Collection[str]]) -> None:
    """Refuse as field identifiers the names `names()` gives (lower case; asked each time,
    so names declared later count too)."""
    _reserved.append(names)


def validate_identifier_not_reserved(value: str) -> None:
    if any(value.lower() in names() for names in _reserved):
        raise ValidationError(
            "“%(value)s” is a Business API parameter name; choose another identifier.",
            params={"value": value},
            code="reserved",
        )


class MetadataField(models.Model):
    """A custom field administrators define; AttachMetaData sets it on calls by identifier."""

    identifier = models.CharField(
        max_length=IDENTIFIER_MAX_LENGTH,
        unique=True,
        validators=[
            RegexValidator(
                IDENTIFIER_PATTERN,
                f"{IDENTIFIER_MIN_LENGTH} to {IDENTIFIER_MAX_LENGTH} characters of "
                "A-Z, a-z, 0-9, _ and -.",
            ),
            validate_identifier_not_reserved,
        ],
        help_text="The parameter name integrations send to AttachMetaData, e.g. ticket_id.",
    )
    label = models.CharField(max_length=255, help_text="Shown to staff on the call page.")
    api_access = models.BooleanField(
        "API access",
        default=True,
        help_text="AttachMetaData may set this field, and the API may read it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "custom metadata field"
        ordering = ["identifier"]
        constraints = [
            # "Ticket" and "ticket" would be two parameters that look like one.
            models.UniqueConstraint(
                Lower("identifier"),
                name="metadatafield_identifier_ci",
                violation_error_message="A field with this identifier (in any letter case) "
                "already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.identifier})"


class MetadataValue(models.Model):
    """The value of one custom field on one call."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="metadata_values")
    field = models.ForeignKey(MetadataField, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=METADATA_VALUE_MAX_LENGTH)

    class Meta:
        verbose_name = "metadata value"
        constraints = [
            models.UniqueConstraint(fields=["call", "field"], name="metadatavalue_one_per_call"),
        ]

    def __str__(self) -> str:
        return f"{self.field.identifier}={self.value}"


# --- Markers (AddMarker / GetMarkers) ------------------------------------------------------

MARKER_NAME_MAX_LENGTH = 64


class Marker(models.Model):
    """A named segment of a call, in milliseconds from its start. Open (no end) between
    AddMarker mmode=start and mmode=end."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="markers")
    name = models.CharField(max_length=MARKER_NAME_MAX_LENGTH, validators=[MinLengthValidator(1)])
    start_ms = models.PositiveBigIntegerField("start (ms)")
    end_ms = models.PositiveBigIntegerField("end (ms)", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start_ms", "name"]
        constraints = [
            # Case-sensitive, as the contract says ("Sale" and "sale" are two markers).
            models.UniqueConstraint(fields=["call", "name"], name="marker_name_unique_per_call"),
            models.CheckConstraint(
                condition=models.Q(end_ms__isnull=True)
                | models.Q(end_ms__gte=models.F("start_ms")),
                name="marker_ends_after_start",
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("name"), 1), name="marker_name_not_empty"
            ),
        ]

    def __str__(self) -> str:
        end = "…" if self.end_ms is None else f"{self.end_ms}"
        return f"{self.name} ({self.start_ms}–{end} ms)"

    @property
    def is_open(self) -> bool:
        return self.end_ms is None
