"""Reads of the audit trail."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from audit.models import ApiRequest


def requests_since(since: datetime) -> Coalesce:
    """An expression for annotating API keys with their request count since `since`.

    A correlated subquery per listed key (served by the (api_key, at) index), not a JOIN
    with GROUP BY over the whole trail.
    """
    counts = (
        ApiRequest.objects.filter(api_key=OuterRef("pk"), at__gte=since)
        .order_by()
        .values("api_key")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


@dataclass
class DailyUsage:
    """Requests of one key per day, split by result code, oldest day first."""

    days: list[date]
    # code -> one count per entry of `days`
    by_code: dict[int, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.by_code.values())

    def day_totals(self) -> list[int]:
        return [sum(c[i] for c in self.by_code.values()) for i in range(len(self.days))]


def daily_usage(api_key_id: int, *, days: int = 30, now: datetime | None = None) -> DailyUsage:
    """The key's requests per day (in the server's time zone) over the last `days` days."""
    now = timezone.localtime(now or timezone.now())
    first_day = now.date() - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    day_list = [first_day + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}
    rows = (
        ApiRequest.objects.filter(api_key_id=api_key_id, at__gte=start)
        .annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
        .values("day", "result_code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    usage = DailyUsage(days=day_list)
    for row in rows:
        i = index.get(row["day"])
        if i is None:
            continue
        usage.by_code.setdefault(row["result_code"], [0] * days)[i] += row["n"]
    usage.by_code = dict(sorted(usage.by_code.items()))
    return usage
