"""Counting raw audit rows into the hourly roll-up (audit.models.HourlyUsage).

Shared by the migration that backfills the roll-up and `manage.py rebuild_usage`, so it
takes the two models as arguments (a migration passes its historical ones).
"""

from datetime import UTC, datetime
from typing import Any

from django.db.models import Count
from django.db.models.functions import TruncHour

BATCH = 5_000


def hour_of(moment: datetime) -> datetime:
    """The UTC hour `moment` falls in: the roll-up's bucket."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def recount(request_model: Any, usage_model: Any, since: datetime | None = None) -> int:
    """Replace the roll-up's hours from the hour of `since` on (all when None) with counts
    of the raw rows; returns how many roll-up rows were written. Hours before stay."""
    raw = request_model.objects.filter(api_key__isnull=False)
    usage = usage_model.objects.all()
    if since is not None:
        hour = hour_of(since)
        raw = raw.filter(at__gte=hour)
        usage = usage.filter(hour__gte=hour)
    counts = (
        raw.annotate(hour=TruncHour("at", tzinfo=UTC))
        .values("api_key_id", "hour", "result_code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    usage.delete()
    written = 0
    batch = []
    for row in counts.iterator(chunk_size=BATCH):
        batch.append(
            usage_model(
                api_key_id=row["api_key_id"],
                hour=row["hour"],
                result_code=row["result_code"],
                requests=row["n"],
            )
        )
        if len(batch) >= BATCH:
            written += len(usage_model.objects.bulk_create(batch))
            batch = []
    if batch:
        written += len(usage_model.objects.bulk_create(batch))
    return written
