"""The admin shows times in the logged-in user's own time zone and names it, as the staff
pages do (access.md §3); a user without a directory profile sees the server's TIME_ZONE."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from apikeys.services import create_api_key
from audit.models import ApiRequest
from calls.tests.factories import CallFactory
from directory.models import Access, Profile

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 15, 15, 0, 0, tzinfo=UTC)  # 10:00 in New York, 00:00 in Tokyo


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def new_yorker(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("nyc", "nyc@example.com", "pw-nyc-1")
    Profile.objects.create(user=user, access=Access.ALL, time_zone="America/New_York")
    client = Client()
    client.force_login(user)
    return client


def test_the_admins_call_list_shows_times_in_the_users_zone_and_names_it(new_yorker):
    CallFactory(started_at=START, ended_at=START.replace(minute=9))

    page = text_of(new_yorker.get("/admin/calls/call/"))

    assert "2026-01-15 10:00:00 2026-01-15 10:09:00" in page
    assert "15:00:00" not in page
    assert "Times are shown in America/New_York." in page


def test_the_call_page_shows_and_reads_its_times_in_the_users_zone(new_yorker):
    call = CallFactory(started_at=START, ended_at=START.replace(minute=9))

    html = new_yorker.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    assert re.search(r'name="started_at_1"[^>]*value="10:00:00"', html) or re.search(
        r'value="10:00:00"[^>]*name="started_at_1"', html
    )
    assert "Times are shown in America/New_York." in html


def test_the_start_date_filter_reads_whole_days_in_the_users_zone(new_yorker):
    # 03:00 UTC on the 16th is still the 15th in New York.
    CallFactory(caller_number="+15550000001", started_at=datetime(2026, 1, 16, 3, tzinfo=UTC))

    on_the_15th = text_of(
        new_yorker.get(
            "/admin/calls/call/?started_at__range_from=2026-01-15&started_at__range_to=2026-01-15"
        )
    )

    assert "+15550000001" in on_the_15th


def test_the_audit_trail_shows_times_in_the_users_zone(new_yorker):
    ApiRequest.objects.create(at=START, action="GetCallURL", result_code=0, duration_ms=3)

    page = text_of(new_yorker.get("/admin/audit/apirequest/"))

    assert "2026-01-15 10:00:00" in page
    assert "Times are shown in America/New_York." in page


def test_the_access_log_shows_times_in_the_users_zone(new_yorker):
    call = CallFactory(started_at=START)
    with time_machine.travel(START, tick=False):
        new_yorker.get(f"/admin/calls/call/{call.pk}/change/")  # a `view` event at START

    page = text_of(new_yorker.get("/admin/access_log/accessevent/"))

    assert "2026-01-15 10:00:00" in page
    assert "Times are shown in America/New_York." in page


def test_a_user_without_a_profile_sees_the_servers_zone(admin_client, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    CallFactory(started_at=START)

    page = text_of(admin_client.get("/admin/calls/call/"))

    assert "2026-01-16 00:00:00" in page
    assert "Times are shown in Asia/Tokyo." in page


def test_the_business_api_is_not_answered_in_a_logged_in_admins_zone(new_yorker):
    # The zone is the admin's only: the API answers without a token in UTC (Verba's rule),
    # even to a browser that is logged in to the admin.
    call = CallFactory(started_at=START, ended_at=START.replace(minute=9))
    _, key = create_api_key("integration")

    answer = new_yorker.get(
        "/verba/api",
        {"action": "GetCallInformation", "apiKey": key, "callID": str(call.pk)},
    ).content.decode()

    assert "15:00:00" in answer
    assert "10:00:00" not in answer
