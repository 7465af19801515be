"""Every path that changes a call writes its event to the outbox, in the same transaction.

Requests go through the full HTTP stack (ingestion API, Business API, admin); the CSV
import runs as the command an operator runs. What is checked is the outbox: the event
types written for the call, in order, and their bodies. Delivery has tests of its own.
"""

import io
import json
import re
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.services import create_api_key
from calls import deletion
from calls.models import Call, Marker, MetadataField, MetadataValue
from calls.services import upsert_call
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav
from webhooks.models import Delivery, Endpoint, Message
from webhooks.services import create_endpoint
from webhooks.tests.conftest import events

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("endpoint", "media_root")]

WAV = tone_wav(0.2)


def body_of(call_id, event_type: str) -> dict:
    message = Message.objects.filter(call_id=call_id, event_type=event_type).latest("pk")
    return json.loads(message.body)


# --- the ingestion API -------------------------------------------------------------------


@pytest.fixture
def ingest():
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=create_api_key("PBX", can_ingest=True, can_query=False)[1])
    return client


def test_the_ingestion_api_raises_started_updated_ended_and_recording_ready(ingest):
    call_id = str(uuid.uuid4())
    started = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    new = {
        "id": call_id,
        "caller_number": "+442071234567",
        "called_number": "8856",
        "started_at": started.isoformat(),
        "direction": "inbound",
    }

    assert ingest.post("/api/v1/calls", new, format="json").status_code == 201
    assert ingest.post("/api/v1/calls", new, format="json").status_code == 200  # a replay
    ingest.patch(f"/api/v1/calls/{call_id}", {"caller_name": "Ada"}, format="json")
    ended = (started + timedelta(seconds=50)).isoformat()
    ingest.patch(f"/api/v1/calls/{call_id}", {"ended_at": ended}, format="json")
    stored = ingest.put(f"/api/v1/calls/{call_id}/recording", WAV, content_type="audio/wav")

    assert stored.status_code == 201
    # The replay changed nothing, so it raised nothing.
    assert events(call_id) == [
        "call.started",
        "call.updated",
        "call.ended",
        "call.recording_ready",
    ]
    started_body = body_of(call_id, "call.started")
    assert started_body["type"] == "call.started"
    assert started_body["data"] == {
        "id": call_id,
        "native_id": "",
        "caller_number": "+442071234567",
        "called_number": "8856",
        "started_at": started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "ended_at": None,
        "direction": "inbound",
        "has_recording": False,
        "kept": False,
    }
    assert body_of(call_id, "call.recording_ready")["data"]["has_recording"] is True
    assert body_of(call_id, "call.ended")["data"]["ended_at"].startswith(ended[:19])


def test_a_call_created_already_ended_raises_call_ended_only(ingest):
    call_id = str(uuid.uuid4())
    ingest.post(
        "/api/v1/calls",
        {
            "id": call_id,
            "caller_number": "+442071234567",
            "called_number": "8856",
            "started_at": "2026-11-26T10:15:30Z",
            "ended_at": "2026-11-26T10:20:30Z",
        },
        format="json",
    )

    assert events(call_id) == ["call.ended"]


def test_a_refused_write_raises_nothing(ingest):
    response = ingest.post(
        "/api/v1/calls",
        {"id": str(uuid.uuid4()), "caller_number": "+1", "started_at": "not a time"},
        format="json",
    )

    assert response.status_code == 400
    assert events() == []


# --- the Business API --------------------------------------------------------------------


@pytest.fixture
def put_media(client):
    key = create_api_key("Recorder", can_query=False, can_ingest=True)[1]

    def send(data: bytes = WAV, **params: str):
        query = urllib.parse.urlencode({"action": "PutMedia", "apiKey": key, **params})
        media = SimpleUploadedFile("call.wav", data, content_type="audio/wav")
        return client.post(f"/verba/api?{query}", {"media": media})

    return send


PUT_CALL = {
    "starttime": "2026-11-26 10:15:30.123",
    "endtime": "2026-11-26 10:20:45",
    "nativeid": "REC-000123",
    "srccallerid": "+442071234567",
    "dstcallerid": "8856",
    "direction": "1",
}


def test_put_media_raises_ended_and_recording_ready_then_recording_ready_again(put_media):
    first = put_media(**PUT_CALL)
    again = put_media(data=tone_wav(0.3, frequency=880.0), **PUT_CALL)

    assert b'code="0"' in first.content and b'code="0"' in again.content
    call = Call.objects.get(native_id="REC-000123")
    assert events(call.pk) == ["call.ended", "call.recording_ready", "call.recording_ready"]


def test_a_refused_put_media_upload_raises_nothing(put_media):
    response = put_media(data=b"not audio at all", **PUT_CALL)

    assert b'code="0"' not in response.content
    assert not Call.objects.exists()
    assert events() == []


@pytest.fixture
def change(client):
    """A Business API request with a key that may change calls."""
    key = create_api_key("CRM", can_query=False, can_change=True)[1]
    return lambda **params: client.get("/verba/api", {"apiKey": key, **params})


def test_keep_call_attach_metadata_and_add_marker_raise_call_updated(change):
    call = CallFactory()
    MetadataField.objects.create(identifier="ticket", label="Ticket")

    change(action="KeepCall", callID=str(call.pk))
    change(action="KeepCall", callID=str(call.pk))  # already kept: no change
    change(action="AttachMetaData", callID=str(call.pk), ticket="T-1")
    change(
        action="AddMarker", callID=str(call.pk), mname="Sale", mmode="segment", mstart="1", mend="2"
    )
    change(action="KeepCall", callID=str(call.pk), unmark="1")

    assert events(call.pk) == ["call.updated"] * 4
    assert body_of(call.pk, "call.updated")["data"]["kept"] is False
    assert Message.objects.filter(call_id=call.pk).first().body.count('"kept": true') == 1


def test_delete_call_raises_call_deleted_with_the_ledger_fields_only(change):
    call = CallFactory(started_at=datetime(2026, 11, 26, 23, 30, tzinfo=UTC))

    response = change(action="DeleteCall", callID=str(call.pk))

    assert b'code="0"' in response.content
    assert events(call.pk) == ["call.deleted"]
    data = body_of(call.pk, "call.deleted")["data"]
    assert data["id"] == str(call.pk)
    assert data["started_on"] == "2026-11-26"
    assert data["reason"] == "DeleteCall"
    assert data["by"] == "CRM"
    assert set(data) == {"id", "started_on", "deleted_at", "reason", "by", "recording_sha256"}
    # No numbers or names travel with a deletion.
    assert call.caller_number not in json.dumps(data)


def test_an_ongoing_call_deleted_when_its_end_arrives_raises_started_ended_deleted(change):
    call_id = uuid.uuid4()
    upsert_call(
        call_id,
        {
            "caller_number": "+1555",
            "called_number": "8856",
            "started_at": timezone.now() - timedelta(minutes=1),
        },
    )
    change(action="DeleteCall", callID=str(call_id))

    upsert_call(call_id, {"ended_at": timezone.now()})

    assert not Call.objects.filter(pk=call_id).exists()
    assert events(call_id) == ["call.started", "call.ended", "call.deleted"]


def test_the_delete_when_ended_sweep_raises_call_deleted():
    now = timezone.now()
    call = CallFactory(started_at=now - timedelta(minutes=3), ended_at=now + timedelta(minutes=1))
    deletion.delete_call(call.pk, now=now)  # not ended yet: marked

    deleted = deletion.sweep_ended_deletions(now=now + timedelta(minutes=2))

    assert deleted == 1
    assert events(call.pk) == ["call.deleted"]


# --- the CSV import -----------------------------------------------------------------------


def test_the_admin_import_raises_the_same_events(admin_client):
    call_id = str(uuid.uuid4())
    upload = io.BytesIO(
        (
            "id,caller_number,caller_name,called_number,called_name,started_at,ended_at,"
            "direction,native_id,platform_call_id,keep\n"
            f"{call_id},+1555,,8856,,2026-04-01T10:00:00+00:00,,inbound,,,0\n"
        ).encode()
    )
    upload.name = "calls.csv"
    preview = admin_client.post(
        reverse("admin:calls_call_import"),
        {"resource": "0", "format": "0", "import_file": upload},
    )
    # The preview is a dry run, rolled back: it raised nothing that stays.
    assert events(call_id) == []
    html = preview.content.decode()
    fields = dict(
        re.findall(
            r'name="(import_file_name|original_file_name|format|resource)"[^>]*value="([^"]*)"',
            html,
        )
    )
    admin_client.post(reverse("admin:calls_call_process_import"), fields)

    assert events(call_id) == ["call.started"]


# --- the admin -----------------------------------------------------------------------------


def change_form(call: Call, **overrides: str) -> dict[str, str]:
    local, end = timezone.localtime(call.started_at), timezone.localtime(call.ended_at)
    data = {
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "called_number": call.called_number,
        "called_name": call.called_name,
        "direction": call.direction,
        "started_at_0": local.strftime("%Y-%m-%d"),
        "started_at_1": local.strftime("%H:%M:%S"),
        "ended_at_0": end.strftime("%Y-%m-%d"),
        "ended_at_1": end.strftime("%H:%M:%S"),
        "native_id": call.native_id,
        "platform_call_id": call.platform_call_id,
    }
    for prefix in ("metadata_values", "markers"):
        data[f"{prefix}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
    data.update(overrides)
    return data


def test_an_admin_edit_raises_call_updated_and_saving_unchanged_raises_nothing(admin_client):
    call = CallFactory(started_at=timezone.now().replace(microsecond=0) - timedelta(hours=1))
    url = reverse("admin:calls_call_change", args=[call.pk])

    unchanged = admin_client.post(url, change_form(call))
    edited = admin_client.post(url, change_form(call, caller_name="Grace Hopper"))

    assert unchanged.status_code == edited.status_code == 302
    assert events(call.pk) == ["call.updated"]


def test_an_admin_edit_of_metadata_or_markers_alone_raises_call_updated(admin_client):
    call = CallFactory(started_at=timezone.now().replace(microsecond=0) - timedelta(hours=1))
    field = MetadataField.objects.create(identifier="ticket", label="Ticket")
    value = MetadataValue.objects.create(call=call, field=field, value="T-1")
    marker = Marker.objects.create(call=call, name="Sale", start_ms=1, end_ms=2)
    url = reverse("admin:calls_call_change", args=[call.pk])
    data = change_form(call)
    data.update(
        {
            "metadata_values-TOTAL_FORMS": "1",
            "metadata_values-INITIAL_FORMS": "1",
            "metadata_values-0-id": str(value.pk),
            "metadata_values-0-call": str(call.pk),
            "metadata_values-0-field": str(field.pk),
            "metadata_values-0-value": "T-2",
            "markers-TOTAL_FORMS": "1",
            "markers-INITIAL_FORMS": "1",
            "markers-0-id": str(marker.pk),
            "markers-0-call": str(call.pk),
            "markers-0-DELETE": "on",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert events(call.pk) == ["call.updated"]


def test_an_admin_delete_raises_call_deleted_by_the_administrator(admin_client, admin_user):
    call = CallFactory()

    response = admin_client.post(
        reverse("admin:calls_call_delete", args=[call.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert events(call.pk) == ["call.deleted"]
    data = body_of(call.pk, "call.deleted")["data"]
    assert (data["reason"], data["by"]) == ("admin", admin_user.username)


# --- the outbox's transaction and filters ---------------------------------------------------


def test_a_change_rolled_back_leaves_no_event_behind():
    call = CallFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        deletion.set_keep(call.pk, True)
        assert events(call.pk) == ["call.updated"]  # written with the change…
        raise RuntimeError("the request failed later")

    assert events(call.pk) == []  # …and gone with it
    assert Call.objects.get(pk=call.pk).keep is False


def test_an_endpoint_gets_only_the_event_types_it_asked_for(endpoint, receiver):
    ends_only = create_endpoint(receiver.url, event_types=["call.ended"]).endpoint
    call_id = uuid.uuid4()
    upsert_call(
        call_id,
        {"caller_number": "+1555", "called_number": "8856", "started_at": timezone.now()},
    )
    upsert_call(call_id, {"ended_at": timezone.now()})

    assert events(call_id) == ["call.started", "call.ended"]
    assert list(
        Delivery.objects.filter(endpoint=ends_only).values_list("message__event_type", flat=True)
    ) == ["call.ended"]
    assert Delivery.objects.filter(endpoint=endpoint).count() == 2


def test_without_an_enabled_endpoint_nothing_is_written(endpoint):
    endpoint.enabled = False
    endpoint.save()

    deletion.set_keep(CallFactory().pk, True)

    assert Message.objects.count() == 0


def test_an_endpoint_limited_to_groups_gets_only_their_members_calls(
    endpoint, receiver, django_user_model
):
    from directory.models import Extension, Group

    ada = django_user_model.objects.create_user("ada")
    Extension.objects.create(user=ada, number="8856")
    support = Group.objects.create(name="Support")
    support.members.add(ada)
    Group.objects.create(name="Sales")
    out = io.StringIO()
    call_command(
        "add_webhook", receiver.url, "--group", "Support", stdout=out, stderr=io.StringIO()
    )
    limited = Endpoint.objects.get(secret=out.getvalue().strip())
    theirs = CallFactory(called_number="8856")
    other = CallFactory(called_number="9999")

    for call in (theirs, other):
        deletion.set_keep(call.pk, True)
        deletion.delete_calls_now(Call.objects.filter(pk=call.pk))

    sent = Delivery.objects.filter(endpoint=limited).order_by("pk")
    assert [(d.call_id, d.message.event_type) for d in sent] == [
        (theirs.pk, "call.updated"),
        (theirs.pk, "call.deleted"),
    ]
    # The endpoint without groups gets every call's events.
    assert Delivery.objects.filter(endpoint=endpoint).count() == 4
    with pytest.raises(CommandError, match="No directory group named: Nobody"):
        call_command("add_webhook", receiver.url, "--group", "Nobody", stdout=io.StringIO())


def test_a_retention_run_raises_call_deleted_with_the_rule_and_the_recordings_digest(
    receiver, django_user_model
):
    from directory.models import Extension, Group
    from purge.run import run_once
    from purge.tests.helpers import ended_days_ago
    from retention.models import DeletionEntry, RetentionRule

    RetentionRule.objects.create(name="UK", keep_days=10, number_prefix="+44")
    due = ended_days_ago(11, caller_number="+441234", called_number="8856")
    other = ended_days_ago(11, caller_number="+441235", called_number="9999")
    young = ended_days_ago(9, caller_number="+441236")
    # An endpoint limited to a group sees only its members' deletions, judged on the calls
    # as they were (the purge reads only some of their fields).
    ada = django_user_model.objects.create_user("ada")
    Extension.objects.create(user=ada, number="8856")
    support = Group.objects.create(name="Support")
    support.members.add(ada)
    limited = create_endpoint(receiver.url, groups=[support]).endpoint
    Message.objects.all().delete()  # the recordings stored above

    run_once()

    assert events(due.pk) == ["call.deleted"] and events(other.pk) == ["call.deleted"]
    assert events(young.pk) == []
    data = body_of(due.pk, "call.deleted")["data"]
    entry = DeletionEntry.objects.get(call=due.pk)
    assert data["reason"] == entry.reason == "retention:UK"
    assert data["by"] is None
    assert data["recording_sha256"] == entry.recording_sha256 == due.recording_sha256
    assert data["started_on"] == entry.started_on.isoformat()
    assert data["deleted_at"] == entry.deleted_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"
    assert [d.call_id for d in Delivery.objects.filter(endpoint=limited)] == [due.pk]
