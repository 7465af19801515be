"""Legal holds exempt calls from every deletion path, and every deletion path leaves one
ledger entry (and takes the recording file with it)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.services import create_api_key
from calls.models import Call
from calls.tests.factories import CallFactory
from purge.run import apply, preview, run_once
from purge.tests.helpers import audio, ended_days_ago, exists, files_under, sha256
from retention.models import DeletionEntry, LegalHold
from retention.services import create_hold, release_hold

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def hold(name: str = "Case 12", **kwargs: object) -> LegalHold:
    return create_hold(name, reason="Smith v. Acme", by="counsel", **kwargs)  # type: ignore[arg-type]


def delete_call(call: Call) -> str:
    key = create_api_key(f"CRM {uuid.uuid4().hex[:6]}", can_query=False, can_change=True)[1]
    response = Client().get(
        "/verba/api", {"action": "DeleteCall", "apiKey": key, "callID": str(call.pk)}
    )
    return response.content.decode()


# --- holds --------------------------------------------------------------------------------


def test_a_hold_by_number_and_time_range_keeps_exactly_the_calls_inside_it(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    start = timezone.now() - timedelta(days=30)
    inside = ended_days_ago(20, caller_number="+4411")
    as_called = ended_days_ago(20, caller_number="100", called_number="+4411")
    before = ended_days_ago(40, caller_number="+4411")
    other_number = ended_days_ago(20, caller_number="+4499")
    hold(numbers=["+4411"], starts_from=start, starts_until=timezone.now() - timedelta(days=10))

    run_once()

    assert [exists(c) for c in (inside, as_called, before, other_number)] == [
        True,
        True,
        False,
        False,
    ]


def test_a_hold_with_open_ends_holds_every_call_of_its_numbers(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    ancient = ended_days_ago(3000, called_number="555")
    recent = ended_days_ago(2, called_number="555")
    hold(numbers=["555"])

    run_once()

    assert exists(ancient) and exists(recent)


def test_a_hold_by_call_ids_holds_those_calls_only(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    held, free = ended_days_ago(5), ended_days_ago(5)
    hold(call_ids=[held.pk])

    run_once()

    assert (exists(held), exists(free)) == (True, False)


def test_a_released_hold_lets_the_next_run_delete_its_due_calls(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    call = ended_days_ago(5)
    placed = hold(call_ids=[call.pk])
    run_once()
    assert exists(call)

    released = release_hold(placed, by="counsel", reason="Settled")
    run_once()

    assert not exists(call)
    assert (released.released_by, released.release_reason) == ("counsel", "Settled")


def test_a_hold_saved_after_a_batch_picked_its_calls_protects_them_from_that_batch(
    settings, media_root
):
    settings.RETENTION_DEFAULT_DAYS = 1
    calls = [ended_days_ago(5) for _ in range(4)]
    held_call = calls[1]
    placed = []

    def hold_while_the_batch_is_picked() -> None:
        if not placed:
            placed.append(hold(call_ids=[held_call.pk]))

    report = apply(batch_size=10, before_delete=hold_while_the_batch_is_picked)

    assert placed and report.deleted == 3
    assert [exists(c) for c in calls] == [False, True, False, False]
    assert held_call.recording.name in files_under(media_root)
    assert held_call.pk not in set(DeletionEntry.objects.values_list("call", flat=True))


def test_a_call_kept_after_a_batch_picked_it_is_not_deleted_by_that_batch_or_the_next(
    settings,
):
    settings.RETENTION_DEFAULT_DAYS = 1
    calls = [ended_days_ago(5) for _ in range(3)]

    def keep_one() -> None:
        Call.objects.filter(pk=calls[0].pk).update(keep=True)

    apply(batch_size=2, before_delete=keep_one)

    assert [exists(c) for c in calls] == [True, False, False]


def test_held_calls_are_left_out_of_the_dry_run_figures(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    calls = [ended_days_ago(5) for _ in range(3)]
    hold(call_ids=[calls[0].pk])

    assert preview()[-1].due == 2


def test_the_hold_command_places_and_releases_a_hold_with_who_and_why(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    call = ended_days_ago(5, caller_number="+4477")
    out = StringIO()
    call_command(
        "legal_hold", "Audit 7", "--reason", "FCA request", "--number", "+4477",
        "--from", "2000-01-01", "--until", "2100-01-01T00:00:00+00:00", stdout=out,
    )  # fmt: skip
    run_once()
    assert exists(call)

    call_command("legal_hold", "Audit 7", "--release", "--reason", "Closed", stdout=out)
    run_once()

    placed = LegalHold.objects.get(name="Audit 7")
    assert not exists(call)
    assert placed.reason == "FCA request" and placed.release_reason == "Closed"
    assert placed.created_by.startswith("manage.py (") and placed.released_at is not None


def test_the_hold_command_refuses_a_hold_that_names_no_calls_and_a_bad_call_id():
    with pytest.raises(CommandError, match="names numbers"):
        call_command("legal_hold", "Empty", "--reason", "x", stdout=StringIO())
    with pytest.raises(CommandError, match="GUID"):
        call_command("legal_hold", "Bad", "--reason", "x", "--call", "nope", stdout=StringIO())
    assert not LegalHold.objects.exists()


# --- DeleteCall --------------------------------------------------------------------------


def test_delete_call_on_a_held_call_is_code_6_and_the_call_stays():
    call = ended_days_ago(1)
    hold(call_ids=[call.pk])

    answer = delete_call(call)

    assert 'code="6"' in answer and "The call is under legal hold." in answer
    assert exists(call) and not DeletionEntry.objects.exists()


def test_delete_call_writes_one_ledger_entry_naming_the_key_and_the_recording_digest(
    media_root, django_capture_on_commit_callbacks
):
    call = ended_days_ago(1, caller_number="+4412345", caller_name="Ada")
    path = media_root / call.recording.name

    with django_capture_on_commit_callbacks(execute=True):
        answer = delete_call(call)

    entry = DeletionEntry.objects.get()
    assert 'code="0"' in answer and not exists(call) and not path.exists()
    assert (entry.call, entry.reason, entry.started_on) == (
        call.pk,
        "DeleteCall",
        call.started_at.astimezone(UTC).date(),
    )
    assert entry.by.startswith("CRM ")
    assert entry.recording_sha256 == sha256(audio(str(call.pk)))
    # Proof without content: nothing of the call's parties survives.
    stored = " ".join(str(v) for v in DeletionEntry.objects.values().get().values())
    assert "+4412345" not in stored and "Ada" not in stored


def test_a_call_marked_by_delete_call_and_then_held_is_not_deleted_when_it_ends():
    call = CallFactory(started_at=timezone.now() - timedelta(minutes=2), ended_at=None)
    assert 'code="0"' in delete_call(call)
    hold(call_ids=[call.pk])
    key = create_api_key("Recorder", can_query=False, can_ingest=True)[1]
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=key)

    response = api.patch(
        f"/api/v1/calls/{call.pk}", {"ended_at": timezone.now().isoformat()}, format="json"
    )

    assert response.status_code == 200 and exists(call)
    assert not DeletionEntry.objects.exists()


def test_a_call_marked_by_delete_call_is_deleted_when_ingestion_ends_it_with_its_ledger_entry():
    call = CallFactory(started_at=timezone.now() - timedelta(minutes=2), ended_at=None)
    delete_call(call)
    key = create_api_key("Recorder", can_query=False, can_ingest=True)[1]
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=key)

    api.patch(f"/api/v1/calls/{call.pk}", {"ended_at": timezone.now().isoformat()}, format="json")

    entry = DeletionEntry.objects.get()
    assert not exists(call) and entry.reason == "DeleteCall" and entry.by.startswith("CRM ")


def test_the_ended_calls_sweep_leaves_a_held_call_and_ledgers_the_others():
    from calls.deletion import sweep_ended_deletions

    now = timezone.now()
    held_call = CallFactory(started_at=now - timedelta(minutes=2), ended_at=None)
    free_call = CallFactory(started_at=now - timedelta(minutes=2), ended_at=None)
    delete_call(held_call)
    delete_call(free_call)
    hold(call_ids=[held_call.pk])
    Call.objects.update(ended_at=now)

    assert sweep_ended_deletions(now=now + timedelta(seconds=1)) == 1
    assert exists(held_call) and not exists(free_call)
    assert DeletionEntry.objects.get().call == free_call.pk


# --- the admin ----------------------------------------------------------------------------


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_admin_refuses_to_delete_a_held_call(admin_client):
    call = ended_days_ago(1)
    hold(call_ids=[call.pk])

    page = admin_client.get(f"/admin/calls/call/{call.pk}/delete/")
    post = admin_client.post(f"/admin/calls/call/{call.pk}/delete/", {"post": "yes"})

    assert b"calls under legal hold (1)" in page.content
    assert post.status_code == 403 and exists(call)


def test_the_admin_bulk_delete_refuses_when_any_selected_call_is_held(admin_client):
    held_call, free_call = ended_days_ago(1), ended_days_ago(1)
    hold(call_ids=[held_call.pk])

    response = admin_client.post(
        "/admin/calls/call/",
        {
            "action": "delete_selected",
            "_selected_action": [str(held_call.pk), str(free_call.pk)],
            "post": "yes",
        },
    )

    assert response.status_code == 403 and exists(held_call) and exists(free_call)


def test_the_admin_delete_writes_a_ledger_entry_by_the_administrator(
    admin_client, media_root, django_capture_on_commit_callbacks
):
    call = ended_days_ago(1)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/admin/calls/call/{call.pk}/delete/", {"post": "yes"})

    entry = DeletionEntry.objects.get()
    assert not exists(call) and (entry.reason, entry.by) == ("admin", "admin")
    assert files_under(media_root) == set()


def test_the_call_admin_page_says_when_and_by_which_rule_the_call_goes_or_why_not(
    admin_client, settings
):
    from retention.models import RetentionRule

    settings.RETENTION_DEFAULT_DAYS = None
    RetentionRule.objects.create(name="UK", keep_days=30, number_prefix="+44")
    uk = ended_days_ago(1, caller_number="+4411")
    other = ended_days_ago(1, caller_number="+3311")
    kept = ended_days_ago(1, caller_number="+4412", keep=True)
    held_call = ended_days_ago(1, caller_number="+4413")
    ongoing = CallFactory(started_at=timezone.now(), ended_at=None)
    hold("Case 9", call_ids=[held_call.pk])

    def page(call: Call) -> str:
        return admin_client.get(f"/admin/calls/call/{call.pk}/change/").content.decode()

    due_day = timezone.localtime(uk.ended_at + timedelta(days=30)).strftime("%Y-%m-%d")
    assert f"Deleted by the first retention run after {due_day}" in page(uk)
    assert "under rule UK (30 days after its end)" in page(uk)
    assert "RETENTION_DEFAULT_DAYS is unset: kept for ever" in page(other)
    assert "Kept (KeepCall)" in page(kept)
    assert "Under legal hold (Case 9)" in page(held_call)
    assert "In progress" in page(ongoing)


def test_the_admin_cannot_remove_the_recording_of_a_held_call(admin_client, media_root):
    call = ended_days_ago(1)
    hold(call_ids=[call.pk])
    path = media_root / call.recording.name
    page = admin_client.get(f"/admin/calls/call/{call.pk}/change/")
    form = page.context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k != "id"}
    data.update(
        {
            "remove_recording": "on",
            "started_at_0": call.started_at.strftime("%Y-%m-%d"),
            "started_at_1": call.started_at.strftime("%H:%M:%S"),
            "ended_at_0": call.ended_at.strftime("%Y-%m-%d"),
            "ended_at_1": call.ended_at.strftime("%H:%M:%S"),
            "metadata_values-TOTAL_FORMS": "0",
            "metadata_values-INITIAL_FORMS": "0",
            "markers-TOTAL_FORMS": "0",
            "markers-INITIAL_FORMS": "0",
        }
    )

    response = admin_client.post(f"/admin/calls/call/{call.pk}/change/", data)

    assert b"under legal hold: its recording cannot be removed" in response.content
    assert os.path.exists(path)
