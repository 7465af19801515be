"""Who viewed, played, downloaded, changed, deleted, searched or exported calls.

An event outlives its call (a deleted call's history stays), so the call is a plain id, not a
foreign key; so are the user (a username) and the API key (its name): deleting either
leaves the record as it was written.
"""

from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    VIEW = "view", "view"
    PLAY = "play", "play"
    DOWNLOAD = "download", "download"
    CHANGE = "change", "change"
    DELETE = "delete", "delete"
    SEARCH = "search", "search"
    EXPORT = "export", "export"


# Kinds that name no call: one event per query or export, with its criteria and count.
CALLLESS_KINDS = frozenset({Kind.SEARCH, Kind.EXPORT})


class Surface(models.TextChoices):
    STAFF = "staff", "staff pages"
    API = "api", "API"
    ADMIN = "admin", "admin"
    SYSTEM = "system", "system"


class AccessEvent(models.Model):
    """One access to calls. Written once, never changed; removed only by age
    (`manage.py prune_access_log`)."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    call_id = models.UUIDField("call", null=True, blank=True)
    # Empty when nobody signed in (an API key without a token, the system).
    user = models.CharField(max_length=150, blank=True)
    api_key = models.CharField("API key", max_length=128, blank=True)
    surface = models.CharField(max_length=16, choices=Surface.choices)
    client = models.GenericIPAddressField("client address", null=True, blank=True)
    # Format, criteria, counts, which fields changed: never a value that is a secret.
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "access event"
        indexes = [
            # The SIEM feed and pruning read by time; the call page and "one playback" by
            # call; the lists per user and per key (the admin's search) by user and key.
            models.Index(fields=["at", "id"], name="accessevent_at"),
            models.Index(fields=["call_id", "at"], name="accessevent_call_at"),
            models.Index(fields=["user", "at"], name="accessevent_user_at"),
            models.Index(fields=["api_key", "at"], name="accessevent_key_at"),
        ]

    def __str__(self) -> str:
        who = self.user or self.api_key or self.surface
        return f"{self.kind} by {who} at {self.at:%Y-%m-%d %H:%M:%S}"
