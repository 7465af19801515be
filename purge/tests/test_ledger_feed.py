"""The deletion ledger as JSON for CRMs (GET /api/v1/deletions with an --audit key), as CSV
from the admin, and read-only in the admin."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client

from apikeys.services import create_api_key
from retention.models import DeletionEntry

pytestmark = pytest.mark.django_db

URL = "/api/v1/deletions"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def entry(minutes: int, **fields: object) -> DeletionEntry:
    values: dict[str, object] = {
        "call": uuid.uuid4(),
        "started_on": date(2026, 1, 2),
        "deleted_at": T0 + timedelta(minutes=minutes),
        "reason": "retention:UK",
        "by": "",
        "recording_sha256": "ab" * 32,
    }
    values.update(fields)
    return DeletionEntry.objects.create(**values)


@pytest.fixture
def feed(client: Client):
    key = create_api_key("CRM forget", audit=True, can_query=False)[1]

    def get(url: str = URL, **params: str):
        return client.get(url, params, headers={"X-Api-Key": key})

    return get


def test_entries_come_oldest_first_in_the_documented_shape(feed):
    later = entry(2, reason="DeleteCall", by="crm", recording_sha256="")
    first = entry(1)

    answer = feed()

    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    assert answer.json() == {
        "next": None,
        "results": [
            {
                "call": str(first.call),
                "started_on": "2026-01-02",
                "deleted_at": "2026-03-01T09:01:00Z",
                "reason": "retention:UK",
                "by": None,
                "recording_sha256": "ab" * 32,
            },
            {
                "call": str(later.call),
                "started_on": "2026-01-02",
                "deleted_at": "2026-03-01T09:02:00Z",
                "reason": "DeleteCall",
                "by": "crm",
                "recording_sha256": None,
            },
        ],
    }


def test_since_leaves_out_older_entries_and_pages_follow_each_other_without_gaps(feed):
    entries = [entry(m) for m in range(10)]

    seen: list[str] = []
    answer = feed(since="2026-03-01T09:03:00Z", page_size="3").json()
    pages = 1
    seen += [r["call"] for r in answer["results"]]
    while answer["next"]:
        answer = feed(answer["next"]).json()
        pages += 1
        seen += [r["call"] for r in answer["results"]]

    assert seen == [str(e.call) for e in entries[3:]] and pages == 3


def test_a_key_without_the_audit_flag_gets_403_json_and_no_key_401(client):
    entry(1)
    plain = create_api_key("CRM", can_query=True)[1]

    refused = client.get(URL, headers={"X-Api-Key": plain})
    anonymous = client.get(URL)

    assert refused.status_code == 403 and refused["Content-Type"] == "application/json"
    assert anonymous.status_code == 401 and "results" not in anonymous.json()


@pytest.mark.parametrize(
    ("params", "field"), [({"since": "yesterday"}, "since"), ({"cursor": "@@"}, "cursor")]
)
def test_a_bad_since_or_cursor_is_a_400_naming_it(feed, params, field):
    answer = feed(**params)

    assert answer.status_code == 400 and field in answer.json()


def test_the_admin_lists_the_ledger_read_only_and_downloads_it_as_csv(admin_user):
    first = entry(1, by="crm")
    entry(2, recording_sha256="")
    client = Client()
    client.force_login(admin_user)

    listing = client.get("/admin/retention/deletionentry/").content.decode()
    change = client.get(f"/admin/retention/deletionentry/{first.pk}/change/")
    delete = client.post(f"/admin/retention/deletionentry/{first.pk}/delete/", {"post": "yes"})
    csv = b"".join(client.get("/admin/retention/deletionentry/csv/").streaming_content)

    assert str(first.call) in listing and "Download the whole ledger (CSV)" in listing
    assert b"Save" not in change.content and delete.status_code == 403
    assert csv.decode().splitlines() == [
        "call,started_on,deleted_at,reason,by,recording_sha256",
        f"{first.call},2026-01-02,2026-03-01T09:01:00Z,retention:UK,crm,{'ab' * 32}",
        f"{DeletionEntry.objects.last().call},2026-01-02,2026-03-01T09:02:00Z,retention:UK,,",
    ]
    assert DeletionEntry.objects.count() == 2
