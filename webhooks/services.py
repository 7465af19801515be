"""Managing endpoints and resending: one definition each, for the admin and the command."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from directory.models import Group
from webhooks import signing
from webhooks.delivery import deliverer, notify
from webhooks.destinations import url_problem
from webhooks.events import EVENT_TYPES
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint, Message

# After a rotation the old secret keeps signing beside the new one this long.
ROTATION_OVERLAP = timedelta(hours=24)


def check_event_types(event_types: Sequence[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(
            {
                "event_types": f"Unknown event types: {', '.join(unknown)}. "
                f"Known: {', '.join(EVENT_TYPES)}."
            }
        )
    # Catalogue order, without repeats; all of them is the same as none (everything).
    chosen = [t for t in EVENT_TYPES if t in set(event_types)]
    return [] if len(chosen) == len(EVENT_TYPES) else chosen


def check_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise ValidationError({"url": problem})
    return url.strip()


@dataclass(frozen=True)
class Created:
    endpoint: Endpoint
    secret: str  # shown once, to whoever created the endpoint


def create_endpoint(
    url: str,
    *,
    event_types: Sequence[str] = (),
    groups: Sequence[Group] = (),
    description: str = "",
) -> Created:
    """A new enabled endpoint with a new signing secret. ValidationError for a URL or an
    event type that is not allowed."""
    endpoint = Endpoint(
        url=check_url(url),
        event_types=check_event_types(event_types),
        description=description,
        secret=signing.new_secret(),
    )
    with transaction.atomic():
        endpoint.save()
        endpoint.groups.set(groups)
    return Created(endpoint, endpoint.secret)


def groups_named(names: Sequence[str]) -> list[Group]:
    """The directory groups with these names; ValidationError naming any that is not one."""
    found = {g.name: g for g in Group.objects.filter(name__in=list(names))}
    unknown = [name for name in names if name not in found]
    if unknown:
        raise ValidationError({"groups": f"No directory group named: {', '.join(unknown)}."})
    return [found[name] for name in dict.fromkeys(names)]


def rotate_secret(endpoint: Endpoint, *, now: datetime | None = None) -> str:
    """A new secret; the current one keeps signing beside it for ROTATION_OVERLAP. Returns
    the new secret (shown once)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_until = now + ROTATION_OVERLAP
        locked.secret = signing.new_secret()
        locked.save(
            update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"]
        )
    endpoint.refresh_from_db()
    return locked.secret


def enable(endpoint: Endpoint) -> None:
    """Enable an endpoint again: its failure streak starts over."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_reason="", failing_since=None, updated_at=timezone.now()
    )


def resend(deliveries: Sequence[Delivery], *, now: datetime | None = None) -> int:
    """Send these deliveries again, with a new round of retries: the same message and
    `webhook-id`. Returns how many."""
    return _resend(Delivery.objects.filter(pk__in=[d.pk for d in deliveries]), now)


def resend_failed(endpoint: Endpoint, *, now: datetime | None = None) -> int:
    """Send every failed delivery of `endpoint` again. Returns how many."""
    return _resend(Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.FAILED), now)


def _resend(rows: QuerySet[Delivery], now: datetime | None) -> int:
    count = rows.update(
        state=DeliveryState.PENDING,
        failures=0,
        next_attempt_at=now or timezone.now(),
        leased_until=None,
    )
    if count:
        notify()
        transaction.on_commit(deliverer.wake)
    return count


PRUNE_BATCH = 2000


def prune_log(before: datetime) -> int:
    """Delete the messages written before `before` that nothing waits to send any more
    (delivered or failed everywhere), with their deliveries and attempts; returns how many
    messages. In batches, each its own transaction."""
    deleted = 0
    while True:
        ids = list(
            Message.objects.filter(created_at__lt=before)
            .exclude(deliveries__state=DeliveryState.PENDING)
            .order_by("created_at")
            .values_list("pk", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            Attempt.objects.filter(delivery__message_id__in=ids).delete()
            Delivery.objects.filter(message_id__in=ids).delete()
            Message.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
