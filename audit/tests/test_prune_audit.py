"""`manage.py prune_audit`: audit rows older than the retention go, newer ones stay."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import ApiRequest

pytestmark = pytest.mark.django_db


def rows_aged(*days: float) -> None:
    now = timezone.now()
    for age in days:
        ApiRequest.objects.create(
            at=now - timedelta(days=age), action=f"age-{age}", result_code=0, duration_ms=1
        )


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_audit", *args, stdout=out)
    return out.getvalue()


def test_rows_older_than_the_retention_setting_are_deleted(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    rows_aged(1, 29.9, 30.1, 400)

    assert prune() == "Deleted 2 audit rows older than 30 days.\n"
    assert sorted(ApiRequest.objects.values_list("action", flat=True)) == ["age-1", "age-29.9"]


def test_days_on_the_command_line_override_the_setting(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    rows_aged(3, 10)

    prune("--days", "5")

    assert list(ApiRequest.objects.values_list("action", flat=True)) == ["age-3"]


def test_a_retention_of_zero_keeps_everything(settings):
    settings.AUDIT_RETENTION_DAYS = 0
    rows_aged(1000)

    assert "nothing deleted" in prune()
    assert ApiRequest.objects.count() == 1


def test_many_rows_are_deleted_in_batches():
    from audit.services import prune_requests

    rows_aged(*([100] * 25))

    assert prune_requests(timezone.now() - timedelta(days=1), batch=10) == 25
    assert ApiRequest.objects.count() == 0


def test_usage_counts_outlive_pruned_rows_for_the_charts_month_then_go():
    from apikeys.services import create_api_key
    from audit.models import HourlyUsage
    from audit.services import record_api_request

    key, _ = create_api_key("Counted")
    now = timezone.now()
    for age in (1, 10, 40):
        record_api_request(
            at=now - timedelta(days=age),
            action=f"age-{age}",
            api_key_id=key.pk,
            user_id=None,
            client_address=None,
            result_code=0,
            call_id=None,
            duration_ms=1,
        )

    prune("--days", "5")

    assert list(ApiRequest.objects.values_list("action", flat=True)) == ["age-1"]
    # The 10-day-old hour stays counted (the admin's 30-day chart), the 40-day-old one goes.
    kept = sorted((now - hour).days for hour in HourlyUsage.objects.values_list("hour", flat=True))
    assert kept == [1, 10]
