"""Webhook endpoints, the outbox of messages, and the delivery log.

- `Endpoint`: where to send, which event types, its signing secret(s).
- `Message`: one event, written in the transaction of the change it reports (the outbox).
  Its body is stored as the exact bytes sent, so every attempt signs and sends the same body.
- `Delivery`: one message to one endpoint: its state and retry schedule. Deliveries are
  made in the same transaction as their message, for the endpoints enabled at that moment.
- `Attempt`: one try of a delivery (time, status, duration, the first 1 KB of the answer).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from directory.models import Group
from webhooks.events import EVENT_TYPES


class Endpoint(models.Model):
    url = models.URLField(
        "URL",
        max_length=2000,
        help_text="Where events are POSTed: https:// (http:// only with WEBHOOK_ALLOW_HTTP on).",
    )
    description = models.CharField(max_length=255, blank=True)
    # The event types wanted; empty means all of them (including types added later).
    event_types = models.JSONField(default=list, blank=True)
    # Limited to the calls of these groups' members and supervisors (directory.scopes, the
    # rule an API key limited to groups follows); none: every call.
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="webhook_endpoints",
        help_text="Only calls of these groups' members and supervisors; none: every call.",
    )
    enabled = models.BooleanField(default=True)
    # Why it was disabled (by the 5-day rule, or by an administrator); shown in the admin.
    disabled_reason = models.CharField(max_length=255, blank=True, editable=False)
    # Kept so that it can sign (not as a digest); shown once, never logged.
    secret = models.CharField(max_length=200, editable=False)
    # After a rotation the old secret signs beside the new one until `previous_secret_until`.
    previous_secret = models.CharField(max_length=200, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The first failure since the last success (None: the last attempt succeeded, or none
    # was made). After WEBHOOK_DISABLE_AFTER of failures only, the endpoint is disabled.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["url", "pk"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Message(models.Model):
    """One event as it is sent: `msg_id` is the `webhook-id` header, the same on every retry."""

    # The primary key orders messages: per call, a later change has a larger id (each
    # change of a call holds the call's row lock while its message is written).
    msg_id = models.CharField("webhook-id", max_length=40, unique=True, editable=False)
    event_type = models.CharField(
        max_length=40, choices=[(t, t) for t in EVENT_TYPES], editable=False
    )
    # No foreign key: messages about deleted calls stay, and the domain never waits on them.
    call_id = models.UUIDField(editable=False)
    # The JSON body exactly as sent (UTF-8 on the wire).
    body = models.TextField(editable=False)
    created_at = models.DateTimeField(editable=False)

    class Meta:
        verbose_name = "webhook message"
        indexes = [
            models.Index(fields=["call_id"], name="webhook_message_call"),
            # manage.py prune_webhooks deletes the oldest.
            models.Index(fields=["created_at"], name="webhook_message_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"


class Delivery(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The message's call, copied so that "an earlier delivery of this call to this endpoint
    # is still pending" is answered from one index.
    call_id = models.UUIDField(editable=False)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    # Failed attempts in the current round (a resend starts a new round); it picks the next
    # retry delay.
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A server sending this delivery holds it until then; a server killed mid-send lets it
    # go this way (another server, or the restarted one, then sends it again).
    leased_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # What is due: a small index of the pending few.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhook_delivery_due",
            ),
            # In order per call: a delivery waits while an earlier one of its call and
            # endpoint is pending.
            models.Index(
                fields=["endpoint", "call_id", "id"],
                condition=Q(state="pending"),
                name="webhook_delivery_call_order",
            ),
            models.Index(fields=["endpoint", "state"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.message} → {self.endpoint}"


RESPONSE_EXCERPT_BYTES = 1024


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField()
    # The answer's HTTP status; None when there was no answer (refused address, timeout…).
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    # The first RESPONSE_EXCERPT_BYTES of the answer's body, decoded leniently.
    response = models.TextField(blank=True)
    # Why no answer came (never a secret: the reason names the address or the error class).
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "webhook attempt"
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
