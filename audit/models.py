from django.conf import settings
from django.db import models

# How the trail names an action the API does not know. Never the value as given: it could
# be a key, a token or a password sent in the wrong parameter (`action=GetCallURL?apiKey=…`).
UNKNOWN_ACTION = "(unknown)"


class ApiRequest(models.Model):
    """One request to /verba/api. Never holds a key, token or password."""

    at = models.DateTimeField(db_index=True)
    # A known action's name, UNKNOWN_ACTION, or empty (no action, or more than one).
    action = models.CharField(max_length=64, blank=True)
    api_key = models.ForeignKey(
        "apikeys.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    client_address = models.GenericIPAddressField(null=True, blank=True)
    result_code = models.PositiveSmallIntegerField()
    # The call the answer pointed to; kept as a plain id so deleting calls keeps the trail.
    call_id = models.UUIDField(null=True, blank=True)
    # What a changing action changed ("kept", "deleted", "set ticket"): names, never values.
    change = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        verbose_name = "API request"
        indexes = [
            models.Index(fields=["api_key", "at"], name="apirequest_key_at"),
            models.Index(fields=["result_code", "at"], name="apirequest_code_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action or '-'} → {self.result_code} at {self.at:%Y-%m-%d %H:%M:%S}"


class HourlyUsage(models.Model):
    """How many requests a key made in one hour (UTC) with one result code.

    What the admin's per-key counts and usage chart read instead of the raw trail, whose
    size grows with traffic: a key has at most 24 rows a day per result code seen. The
    audit writer adds to it in the transaction that writes the raw rows
    (audit.services); `manage.py rebuild_usage` recounts it from the raw rows.
    """

    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="+")
    # The hour's first moment, in UTC.
    hour = models.DateTimeField()
    result_code = models.PositiveSmallIntegerField()
    requests = models.PositiveIntegerField()

    class Meta:
        verbose_name = "hourly API usage"
        verbose_name_plural = "hourly API usage"
        constraints = [
            # Also the index every read goes through: one key, a range of hours.
            models.UniqueConstraint(
                fields=["api_key", "hour", "result_code"], name="hourlyusage_key_hour_code"
            )
        ]

    def __str__(self) -> str:
        return f"{self.requests} × code {self.result_code} at {self.hour:%Y-%m-%d %H}:00"
