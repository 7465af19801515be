"""One scripted session over every surface, through real HTTP requests: exactly one event
per access, each saying what, who, from where and how (docs/access-log.md)."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access_log.models import AccessEvent
from apikeys.services import create_api_key
from calls.models import Call, MetadataField
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav
from directory.models import Access, Profile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

PASSWORD = "pw-access-log-1"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def call():
    call = CallFactory(called_number="8856", platform_call_id="abc@pbx")
    call.recording.save("call.wav", ContentFile(tone_wav(3.0)))
    return call


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user("alice", password=PASSWORD)
    # A compliance officer: the directory lets her see every call (a user without a
    # profile sees only her own extensions' calls, and alice owns none).
    Profile.objects.create(user=user, access=Access.ALL)
    for codename in ("view_call", "change_call"):
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label="calls")
        )
    return user


def events() -> list[tuple]:
    return [
        (e.kind, e.surface, e.user, e.api_key, e.call_id)
        for e in AccessEvent.objects.order_by("at", "id")
    ]


def new_events(since: int) -> list[tuple]:
    return events()[since:]


def logged_in(username: str) -> Client:
    client = Client(REMOTE_ADDR="192.0.2.10")
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def test_a_staff_session_leaves_one_event_per_access(call, alice):
    staff = logged_in("alice")
    assert events() == []  # logging in accesses no call

    assert staff.get("/").status_code == 200
    assert staff.get("/calls/", {"number": "8856"}).status_code == 200
    assert staff.get(f"/calls/{call.pk}/").status_code == 200
    # The player: its first request, a seek, and a resumption; one playback.
    for byte_range in ("bytes=0-", "bytes=20000-", "bytes=40000-47999"):
        played = staff.get(f"/calls/{call.pk}/recording", headers={"Range": byte_range})
        assert played.status_code == 206
        b"".join(played.streaming_content)
    # The waveform is part of the call's page, not an access of its own.
    assert staff.get(f"/calls/{call.pk}/waveform.png").status_code == 200
    downloaded = staff.get(f"/calls/{call.pk}/download")
    assert downloaded["Content-Disposition"].startswith("attachment")

    alice_ = ("staff", "alice", "")
    assert events() == [
        ("search", *alice_, None),
        ("search", *alice_, None),
        ("view", *alice_, call.pk),
        ("play", *alice_, call.pk),
        ("download", *alice_, call.pk),
    ]
    home, listing = AccessEvent.objects.filter(kind="search").order_by("id")
    assert listing.detail == {"page": "list", "criteria": {"number": "8856"}, "count": 1}
    assert home.detail["page"] == "home"
    assert {e.client for e in AccessEvent.objects.all()} == {"192.0.2.10"}


def test_a_business_api_session_leaves_one_event_per_access(client, call, alice):
    MetadataField.objects.create(identifier="ticket", label="Ticket")
    _, key = create_api_key("CRM", can_change=True)

    def api(action: str, **params: str):
        answer = client.get(
            "/verba/api", {"action": action, "apiKey": key, **params}, REMOTE_ADDR="198.51.100.7"
        )
        if answer.streaming:
            b"".join(answer.streaming_content)
        return answer

    day = timezone.now() - timedelta(days=1)
    calls = {"callID": str(call.pk)}
    api("GetCallURL", **calls)  # a link, not content: no event
    api("GetCallInformation", **calls)
    api("GetCallID", platformCallID="abc@pbx")
    end = timezone.now() + timedelta(days=1)
    api("SearchCalls", start=f"{day:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}", anynum="8856")
    api("GetMedia", headers={"Range": "bytes=0-99"}, **calls)
    api("GetMediaEncoded", format="mp3", **calls)
    api("GetMediaSegment", start="1", end="2", **calls)
    api("GetWaveform", width="300", height="50", isColorDefined="false", **calls)
    api("AddMarker", mname="hold", mstart="1", mend="2", **calls)
    api("GetMarkers", **calls)
    api("AttachMetaData", ticket="T-1", **calls)
    api("KeepCall", **calls)
    refused = api("DeleteCall", responseType="JSON", **calls)  # kept: refused, no event
    assert refused.json()["code"] == 6
    api("KeepCall", unmark="1", **calls)
    assert api("DeleteCall", responseType="JSON", **calls).json()["code"] == 0

    crm = ("api", "", "CRM")
    assert events() == [
        ("view", *crm, call.pk),
        ("view", *crm, call.pk),
        ("search", *crm, None),
        ("download", *crm, call.pk),
        ("download", *crm, call.pk),
        ("download", *crm, call.pk),
        ("download", *crm, call.pk),
        ("change", *crm, call.pk),
        ("view", *crm, call.pk),
        ("change", *crm, call.pk),
        ("change", *crm, call.pk),
        ("change", *crm, call.pk),
        ("delete", *crm, call.pk),
    ]
    details = [e.detail for e in AccessEvent.objects.order_by("at", "id")]
    assert details[2] == {
        "action": "SearchCalls",
        "criteria": {
            "start": f"{day:%Y-%m-%d %H:%M}",
            "end": f"{end:%Y-%m-%d %H:%M}",
            "anynum": ["8856"],
        },
        "count": 1,
    }
    assert details[3] == {"action": "GetMedia", "format": "audio/x-wav"}
    assert details[4] == {"action": "GetMediaEncoded", "format": "mp3"}
    assert details[9] == {"action": "AttachMetaData", "change": "set ticket"}
    assert details[12] == {"action": "DeleteCall", "change": "deleted"}
    assert {e.client for e in AccessEvent.objects.all()} == {"198.51.100.7"}
    # Nothing secret in any event.
    assert key not in str(list(AccessEvent.objects.values()))


def test_an_api_user_with_a_token_is_named_beside_the_key(client, call, alice):
    _, key = create_api_key("Desk app", requires_auth=True)
    token = client.get(
        "/verba/api",
        {"action": "RequestToken", "apiKey": key, "userName": "alice", "password": PASSWORD},
    )
    token = re.search(r'token="(\w+)"', token.content.decode()).group(1)

    client.get(
        "/verba/api",
        {"action": "GetCallInformation", "apiKey": key, "token": token, "callID": str(call.pk)},
    )

    assert events() == [("view", "api", "alice", "Desk app", call.pk)]
    assert token not in str(list(AccessEvent.objects.values()))


def test_reading_calls_back_through_the_ingestion_api_is_recorded(client, call):
    _, key = create_api_key("PBX connector", can_query=False, can_ingest=True)
    headers = {"X-Api-Key": key}

    listed = client.get("/api/v1/calls", {"number": "8856", "page_size": "5"}, headers=headers)
    read = client.get(f"/api/v1/calls/{call.pk}", headers=headers)
    written = client.patch(
        f"/api/v1/calls/{call.pk}",
        {"caller_name": "Ada"},
        content_type="application/json",
        headers=headers,
    )

    assert (listed.status_code, read.status_code, written.status_code) == (200, 200, 200)
    connector = ("api", "", "PBX connector")
    # A recorder writing its own calls accesses nothing; reading them back does.
    assert events() == [("search", *connector, None), ("view", *connector, call.pk)]
    assert AccessEvent.objects.get(kind="search").detail == {
        "criteria": {"number": "8856", "page_size": "5"},
        "count": 1,
    }


def test_an_admin_session_leaves_one_event_per_access(admin_user, call):
    other = CallFactory(called_number="9999")
    admin = Client(REMOTE_ADDR="203.0.113.5")
    admin.force_login(admin_user)
    list_url = reverse("admin:calls_call_changelist")
    change_url = reverse("admin:calls_call_change", args=[call.pk])

    assert admin.get(list_url).status_code == 200
    assert admin.get(list_url, {"q": "8856"}).status_code == 200
    page = admin.get(change_url)
    assert page.status_code == 200
    edited = admin.post(change_url, _change_form(call, keep="on"))
    assert edited.status_code == 302, edited.content.decode()[:2000]
    exported = admin.post(
        reverse("admin:calls_call_export") + "?q=8856",
        {"format": "0", "export_items": [], "callresource_id": "on"},
    )
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    delete_url = reverse("admin:calls_call_delete", args=[other.pk])
    assert admin.get(delete_url).status_code == 200  # the question: no event
    assert admin.post(delete_url, {"post": "yes"}).status_code == 302

    root = ("admin", admin_user.username, "")
    assert events() == [
        ("search", *root, None),
        ("search", *root, None),
        ("view", *root, call.pk),
        ("change", *root, call.pk),
        ("export", *root, None),
        ("delete", *root, other.pk),
    ]
    search, export = (
        AccessEvent.objects.get(detail__criteria__q="8856", kind="search"),
        (AccessEvent.objects.get(kind="export")),
    )
    assert search.detail == {"criteria": {"q": "8856"}, "count": 1, "matching": "1"}
    assert export.detail == {"criteria": {"q": "8856"}, "count": 1, "format": "csv"}
    assert len(rows) == 1 + 1
    assert AccessEvent.objects.get(kind="change").detail == {"fields": ["keep"]}
    assert not Call.objects.filter(pk=other.pk).exists()


def test_the_call_page_in_the_admin_shows_who_accessed_the_call(admin_client, call, alice):
    staff = logged_in("alice")
    staff.get(f"/calls/{call.pk}/download")

    html = admin_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()

    assert "Who accessed this call" in html
    assert re.search(r"<td>download</td><td>alice</td>", html)
    assert f"/admin/access_log/accessevent/?call_id={call.pk}" in html


def test_a_change_whose_event_cannot_be_written_is_not_made(client, call, monkeypatch):
    _, key = create_api_key("CRM", can_change=True)

    def refuse(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(AccessEvent.objects, "create", refuse)
    answer = client.get(
        "/verba/api",
        {"action": "KeepCall", "apiKey": key, "callID": str(call.pk), "responseType": "JSON"},
    )

    assert answer.json()["code"] == 9
    call.refresh_from_db()
    assert call.keep is False


def test_content_whose_event_cannot_be_written_is_not_sent(client, call, monkeypatch):
    _, key = create_api_key("CRM")

    def refuse(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(AccessEvent.objects, "create", refuse)
    answer = client.get("/verba/api", {"action": "GetMedia", "apiKey": key, "callID": str(call.pk)})

    assert answer.status_code == 503
    assert b"RIFF" not in answer.content


def _change_form(call: Call, **changes: str) -> dict[str, str]:
    started = timezone.localtime(call.started_at)
    ended = timezone.localtime(call.ended_at)
    form = {
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "called_number": call.called_number,
        "called_name": call.called_name,
        "direction": call.direction,
        "started_at_0": started.strftime("%Y-%m-%d"),
        "started_at_1": started.strftime("%H:%M:%S"),
        "ended_at_0": ended.strftime("%Y-%m-%d"),
        "ended_at_1": ended.strftime("%H:%M:%S"),
        "native_id": call.native_id,
        "platform_call_id": call.platform_call_id,
        "recording_content_type": call.recording_content_type,
    }
    for prefix in ("metadata_values", "markers"):
        form |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return form | changes
