"""Rules and holds in the admin: the preview per rule, every change recorded, holds placed
and released with a reason."""

from __future__ import annotations

import pytest
from django.test import Client

from purge.tests.helpers import ended_days_ago
from retention.models import LegalHold, RetentionRule, RuleChange

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_rule_list_counts_per_rule_what_a_run_would_delete_now_when_asked(
    admin_client, settings
):
    settings.RETENTION_DEFAULT_DAYS = 30
    RetentionRule.objects.create(name="UK", keep_days=10, number_prefix="+44")
    for _ in range(2):
        ended_days_ago(11, caller_number="+4411")
    ended_days_ago(31, caller_number="+3311")

    listed = admin_client.get("/admin/retention/retentionrule/").content.decode()
    page = admin_client.get("/admin/retention/retentionrule/?count=1")

    assert "Count the calls a run would delete now" in listed and "due now." not in listed
    rows = {r.name: r._due_now for r in page.context["cl"].result_list}
    assert rows == {"UK": 2}
    assert "kept 30 days (RETENTION_DEFAULT_DAYS); 1 due now" in page.content.decode()


def test_saving_and_deleting_a_rule_in_the_admin_records_who_before_and_after(admin_client):
    admin_client.post(
        "/admin/retention/retentionrule/add/",
        {"name": "PCI", "keep_days": "90", "number_prefix": "+1800", "direction": ""},
    )
    rule = RetentionRule.objects.get()
    admin_client.post(
        f"/admin/retention/retentionrule/{rule.pk}/change/",
        {"name": "PCI", "keep_days": "60", "number_prefix": "+1800", "direction": "inbound"},
    )
    page = admin_client.get(f"/admin/retention/retentionrule/{rule.pk}/change/").content
    admin_client.post(f"/admin/retention/retentionrule/{rule.pk}/delete/", {"post": "yes"})

    changes = list(RuleChange.objects.order_by("id"))
    assert [(c.action, c.by) for c in changes] == [
        ("created", "admin"),
        ("changed", "admin"),
        ("deleted", "admin"),
    ]
    assert (changes[1].before["keep_days"], changes[1].after["keep_days"]) == (90, 60)
    assert b"changed by admin" in page
    assert not RetentionRule.objects.exists()


def test_a_hold_is_placed_and_released_in_the_admin_with_a_reason_and_never_deleted(
    admin_client,
):
    call = ended_days_ago(3, caller_number="+4477")
    admin_client.post(
        "/admin/retention/legalhold/add/",
        {"name": "Case 3", "reason": "Subpoena", "numbers_text": "+4477\n+4478"},
    )
    hold = LegalHold.objects.get()
    listing = admin_client.get("/admin/retention/legalhold/")
    refused = admin_client.post(
        f"/admin/retention/legalhold/{hold.pk}/change/",
        {"name": "Case 3", "reason": "Subpoena", "numbers_text": "+4477", "release": "on"},
    )
    admin_client.post(
        f"/admin/retention/legalhold/{hold.pk}/change/",
        {
            "name": "Case 3",
            "reason": "Subpoena",
            "numbers_text": "+4477\n+4478",
            "release": "on",
            "release_reason_text": "Case closed",
        },
    )
    deleted = admin_client.post(f"/admin/retention/legalhold/{hold.pk}/delete/", {"post": "yes"})

    hold.refresh_from_db()
    assert (hold.numbers, hold.created_by) == (["+4477", "+4478"], "admin")
    assert listing.context["cl"].result_list[0].pk == hold.pk
    assert b"A release needs a reason." in refused.content
    assert (hold.released_by, hold.release_reason) == ("admin", "Case closed")
    assert deleted.status_code == 403 and LegalHold.objects.exists()
    assert call.pk is not None


def test_the_hold_list_counts_the_calls_each_active_hold_holds(admin_client):
    ended_days_ago(3, caller_number="+4477")
    ended_days_ago(3, called_number="+4477")
    ended_days_ago(3, caller_number="+4400")
    admin_client.post(
        "/admin/retention/legalhold/add/",
        {"name": "Case 4", "reason": "Audit", "numbers_text": "+4477"},
    )

    page = admin_client.get("/admin/retention/legalhold/")

    hold = page.context["cl"].result_list[0]
    assert page.context["cl"].model_admin.held_now(hold) == 2
