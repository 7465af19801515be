"""The hourly usage roll-up the admin reads: the same counts as the raw audit rows."""

import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from apikeys.services import create_api_key
from audit import services
from audit.models import ApiRequest, HourlyUsage

pytestmark = pytest.mark.django_db

# A day after New York left daylight saving time: its 1 November had 25 hours.
NOW = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
ZONE = "America/New_York"
CHART_TITLE = re.compile(r"<title>(\d{4}-\d\d-\d\d): (\d+) × code (\d+) ")


def moments() -> list[tuple[datetime, int]]:
    """(time, result code) of requests around every boundary the admin's counts cross: the
    hour, the local day (05:00 UTC, 04:00 before the change), the 24-hour window, the
    30-day chart."""
    day = timedelta(days=1)
    edges = [
        NOW - timedelta(minutes=1),
        NOW.replace(minute=0),  # the current hour's first moment
        NOW - day + timedelta(seconds=1),  # just inside the last 24 hours
        NOW - day,
        NOW - day - timedelta(seconds=1),  # just outside
        datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC),  # 1 Nov, 23:59:59 local
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC),  # 2 Nov, 00:00 local
        datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC),  # 31 Oct, 23:59:59 local (EDT)
        datetime(2026, 11, 1, 4, 0, tzinfo=UTC),  # 1 Nov, 00:00 local
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 local, the first time
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 local, the second time
        NOW - 29 * day,
        NOW - 31 * day,  # outside the chart
    ]
    return [(at, code) for n, at in enumerate(edges) for code in (0, 0, 2 + n % 2)]


def record(at: datetime, key_id: int, code: int) -> None:
    services.record_api_request(
        at=at,
        action="GetCallURL",
        api_key_id=key_id,
        user_id=None,
        client_address="192.0.2.1",
        result_code=code,
        call_id=None,
        duration_ms=1,
    )


def raw_counts(key_id: int) -> tuple[int, Counter]:
    """The last 24 hours' count and the chart's (local day, code) counts, from raw rows."""
    zone = ZoneInfo(ZONE)
    first_day = NOW.astimezone(zone).date() - timedelta(days=29)
    rows = ApiRequest.objects.filter(api_key_id=key_id)
    last_24h = rows.filter(at__gte=NOW - timedelta(days=1)).count()
    chart = Counter(
        (at.astimezone(zone).date().isoformat(), code)
        for at, code in rows.values_list("at", "result_code")
        if at.astimezone(zone).date() >= first_day
    )
    return last_24h, chart


def shown(admin_client, key_id: int) -> tuple[int, Counter]:
    with time_machine.travel(NOW, tick=False):
        listing = admin_client.get(reverse("admin:apikeys_apikey_changelist")).content.decode()
        page = admin_client.get(
            reverse("admin:apikeys_apikey_change", args=[key_id])
        ).content.decode()
    link = reverse("admin:apikeys_apikey_change", args=[key_id])
    row = next(tr for tr in listing.split("<tr")[1:] if link in tr)
    found = re.search(r'<td class="field-requests_24h">(\d+)</td>', row)
    assert found, row
    last_24h = int(found.group(1))
    chart = Counter({(d, int(c)): int(n) for d, n, c in CHART_TITLE.findall(page)})
    return last_24h, chart


def test_the_admin_shows_the_raw_rows_counts_after_a_flush_across_day_boundaries(
    admin_client, settings
):
    settings.TIME_ZONE = ZONE
    settings.AUDIT_FLUSH_SECONDS = 3600
    settings.AUDIT_FLUSH_ROWS = 10_000
    busy, _ = create_api_key("Busy")
    quiet, _ = create_api_key("Quiet")
    requests = moments()
    try:
        # Two batches, the second adding to hours the first wrote.
        for n, batch in enumerate((requests[::2], requests[1::2])):
            for at, code in batch:
                record(at, busy.pk, code)
            record(NOW - timedelta(hours=2), quiet.pk, 7)
            if n == 0:
                assert not HourlyUsage.objects.exists()  # buffered, like the rows
            services.flush()
    finally:
        services.flush()

    assert ApiRequest.objects.filter(api_key=busy).count() == len(requests)
    assert shown(admin_client, busy.pk) == raw_counts(busy.pk)
    assert (
        shown(admin_client, quiet.pk)
        == raw_counts(quiet.pk)
        == (2, Counter({("2026-11-02", 7): 2}))
    )


def test_rebuilding_recounts_the_usage_from_the_raw_rows(admin_client, settings):
    settings.TIME_ZONE = ZONE
    key, _ = create_api_key("Imported trail")
    # Rows the writer never saw (restored from a backup, say): no usage yet.
    ApiRequest.objects.bulk_create(
        ApiRequest(at=at, api_key=key, result_code=code, duration_ms=1) for at, code in moments()
    )
    assert shown(admin_client, key.pk)[1] == Counter()  # the chart reads the roll-up alone

    out = io.StringIO()
    call_command("rebuild_usage", stdout=out)

    assert shown(admin_client, key.pk) == raw_counts(key.pk)
    assert out.getvalue().startswith("Wrote ")
    call_command("rebuild_usage", "--days", "3", stdout=out)  # again: nothing counted twice
    assert shown(admin_client, key.pk) == raw_counts(key.pk)
