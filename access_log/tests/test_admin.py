"""The access log in the admin, through real HTTP requests: read-only for everyone,
filtered per call and per user, downloadable as CSV."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from access_log.models import AccessEvent, Kind, Surface
from access_log.services import Actor, record_access

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:access_log_accessevent_changelist")
EXPORT_URL = reverse("admin:access_log_accessevent_export")
CALL = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")
OTHER = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALICE = Actor(surface=Surface.STAFF, user="alice", client="192.0.2.10")
BOB = Actor(surface=Surface.ADMIN, user="=bob", client="192.0.2.11")


def test_nobody_may_add_change_or_delete_an_event_not_even_a_superuser(admin_client):
    event = record_access(Kind.VIEW, ALICE, call_id=CALL)
    change_url = reverse("admin:access_log_accessevent_change", args=[event.pk])
    delete_url = reverse("admin:access_log_accessevent_delete", args=[event.pk])

    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # nothing to save

    assert admin_client.get(reverse("admin:access_log_accessevent_add")).status_code == 403
    assert admin_client.post(change_url, {"user": "mallory"}).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        LIST_URL, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert AccessEvent.objects.get().user == "alice"


def test_the_list_filters_per_user_and_per_call(admin_client):
    record_access(Kind.VIEW, ALICE, call_id=CALL)
    record_access(Kind.DOWNLOAD, BOB, call_id=OTHER)

    def users(query: str) -> set[str]:
        html = admin_client.get(f"{LIST_URL}?{query}").content.decode()
        return {name for name in ("alice", "=bob") if f">{name}</a>" in html}

    assert users("") == {"alice", "=bob"}
    assert users("user=alice") == {"alice"}
    assert users(f"call_id={OTHER}") == {"=bob"}
    assert users(f"q={CALL}") == {"alice"}
    assert users("q=alice") == {"alice"}
    assert users("kind__exact=download") == {"=bob"}


def test_the_search_box_finds_an_api_keys_events_by_its_name(admin_client):
    record_access(Kind.VIEW, ALICE, call_id=CALL)
    record_access(Kind.DOWNLOAD, Actor(surface=Surface.API, api_key="CRM"), call_id=OTHER)

    html = admin_client.get(f"{LIST_URL}?q=CRM").content.decode()

    assert str(OTHER) in html and str(CALL) not in html


def test_staff_without_the_permission_do_not_see_the_log(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)

    assert client.get(LIST_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="view_accessevent"))
    assert client.get(LIST_URL).status_code == 200
    assert client.get(EXPORT_URL).status_code == 200


def test_the_list_downloads_as_csv_as_filtered_oldest_first(admin_client):
    record_access(Kind.VIEW, ALICE, call_id=CALL, at=T0 + timedelta(minutes=5))
    record_access(Kind.PLAY, ALICE, call_id=CALL, at=T0)
    record_access(Kind.SEARCH, BOB, detail={"criteria": {"q": "8856"}, "count": 2}, at=T0)

    everything = admin_client.get(EXPORT_URL)
    alices = admin_client.get(f"{EXPORT_URL}?user=alice")

    assert everything.status_code == 200
    assert everything["Content-Type"] == "text/csv; charset=utf-8"
    assert everything["Content-Disposition"].startswith('attachment; filename="access-log-')
    rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))
    assert rows == [
        ["at", "kind", "call", "user", "api_key", "surface", "client", "detail"],
        ["2026-03-01T09:00:00Z", "play", str(CALL), "alice", "", "staff", "192.0.2.10", "{}"],
        # A user name that a spreadsheet would run as a formula is defused.
        [
            "2026-03-01T09:00:00Z",
            "search",
            "",
            "'=bob",
            "",
            "admin",
            "192.0.2.11",
            '{"count": 2, "criteria": {"q": "8856"}}',
        ],
        ["2026-03-01T09:05:00Z", "view", str(CALL), "alice", "", "staff", "192.0.2.10", "{}"],
    ]
    alice_rows = list(csv.reader(io.StringIO(b"".join(alices.streaming_content).decode())))
    assert [row[1] for row in alice_rows[1:]] == ["play", "view"]


def test_the_list_page_links_to_the_csv_of_what_it_shows(admin_client):
    html = admin_client.get(f"{LIST_URL}?user=alice").content.decode()

    assert f'href="{EXPORT_URL}?user=alice"' in html
