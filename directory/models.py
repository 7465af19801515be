"""Who is who: users' access levels and time zones, the extensions they own over time, and
groups with their members and supervisors (access.md §1).

The directory decides which calls a user may see (directory/scopes.py); it knows calls only
by the names of their fields, so it sits below the calls room and never imports it.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models

from shared.numbers import NUMBER_MAX_LENGTH, validate_number

DEFAULT_TIME_ZONE = "UTC"


class Access(models.TextChoices):
    NONE = "none", "None: sees no call"
    OWN = "own", "Own: the calls of their extensions (and of the groups they supervise)"
    ALL = "all", "All: every call"


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(
            "“%(value)s” is not an IANA time zone name (such as Europe/London).",
            params={"value": value},
            code="time_zone",
        )


_ZONES: frozenset[str] | None = None


def available_time_zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(zoneinfo.available_timezones())
    return _ZONES


class Profile(models.Model):
    """A user's place in the directory. A user without one has the defaults (`own`, UTC)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_profile"
    )
    access = models.CharField(
        max_length=8,
        choices=Access.choices,
        default=Access.OWN,
        help_text="Which calls this user sees. Own or all may use the staff pages; "
        "none may not. Superusers see every call regardless.",
    )
    time_zone = models.CharField(
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        validators=[validate_time_zone],
        help_text="IANA name, e.g. Europe/London. Staff pages and the API (with this "
        "user's token) show and read times in it.",
    )

    class Meta:
        verbose_name = "directory profile"

    def __str__(self) -> str:
        return f"{self.user} ({self.access}, {self.time_zone})"


class Extension(models.Model):
    """A number a user owns between `valid_from` (inclusive) and `valid_until` (exclusive);
    either open when empty. One number may belong to several users at different times."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extensions"
    )
    # The number rule of every call entry point (shared.numbers): an extension no call
    # could carry would match nothing.
    number = models.CharField(max_length=NUMBER_MAX_LENGTH, validators=[validate_number])
    valid_from = models.DateTimeField("from", null=True, blank=True)
    valid_until = models.DateTimeField("until", null=True, blank=True)

    class Meta:
        ordering = ["number", "valid_from"]
        indexes = [
            # The scope's one condition: "a party number of the call is owned by …" looks
            # extensions up by number (few rows per number), then checks period and owner.
            models.Index(fields=["number", "user"], name="extension_number_user"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_from__isnull=True)
                | models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gt=models.F("valid_from")),
                name="extension_until_after_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({period_text(self.valid_from, self.valid_until)})"

    def clean(self) -> None:
        super().clean()
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "The end must come after the start."})
        if self.number and self.user_id is not None:
            clash = overlapping_extensions(
                self.number, self.valid_from, self.valid_until, exclude_pk=self.pk
            ).first()
            if clash is not None:
                raise ValidationError({"number": overlap_message(self.number, clash)})


def period_text(start: datetime | None, end: datetime | None) -> str:
    if start is None and end is None:
        return "always"
    left = f"from {start:%Y-%m-%d %H:%M}" if start else ""
    right = f"until {end:%Y-%m-%d %H:%M}" if end else ""
    return " ".join(p for p in (left, right) if p)


def periods_overlap(
    a_from: datetime | None,
    a_until: datetime | None,
    b_from: datetime | None,
    b_until: datetime | None,
) -> bool:
    """Whether two half-open periods [from, until) share an instant (None = open)."""
    return (b_until is None or a_from is None or a_from < b_until) and (
        a_until is None or b_from is None or b_from < a_until
    )


def overlapping_extensions(
    number: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
    exclude_pk: int | None = None,
) -> models.QuerySet[Extension]:
    """Stored ownerships of `number` sharing an instant with [valid_from, valid_until)."""
    found = Extension.objects.filter(number=number).select_related("user")
    if valid_until is not None:
        found = found.filter(
            models.Q(valid_from__isnull=True) | models.Q(valid_from__lt=valid_until)
        )
    if valid_from is not None:
        found = found.filter(
            models.Q(valid_until__isnull=True) | models.Q(valid_until__gt=valid_from)
        )
    if exclude_pk is not None:
        found = found.exclude(pk=exclude_pk)
    return found


# On PostgreSQL the database refuses an overlap too (migration 0004), for writers that pass
# the check above at the same moment; the writers then check again, and name the clash.
OVERLAP_CONSTRAINT = "extension_no_overlap"


def is_overlap(error: IntegrityError) -> bool:
    """Whether `error` is the database refusing two owners of one number at one instant."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == OVERLAP_CONSTRAINT


def overlap_message(number: str, clash: Extension) -> str:
    owner = clash.user.get_username()
    when = period_text(clash.valid_from, clash.valid_until)
    return f"Extension {number} already belongs to {owner} ({when}) at the same time."


class Group(models.Model):
    """A team: its supervisors see every call of its members (as their own scope says)."""

    name = models.CharField(max_length=150, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="directory_groups"
    )
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="supervised_groups",
        help_text="They see every call of this group's members, besides their own.",
    )

    class Meta:
        verbose_name = "directory group"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
