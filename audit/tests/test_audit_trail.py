"""The audit trail: one row per /verba/api request, secrets never in it, read-only admin."""

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from apikeys.services import create_api_key, revoke_api_key
from audit import services
from audit.models import ApiRequest
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:audit_apirequest_changelist")
PASSWORD = "pw-Sup3r-secret-9"


def api(client, **params: str):
    return client.get("/verba/api", {"responseType": "TEXT", **params})


def every_value(row: ApiRequest) -> str:
    return " ".join(str(getattr(row, f.attname)) for f in ApiRequest._meta.concrete_fields)


@pytest.fixture
def api_user(django_user_model):
    user = django_user_model.objects.create_user("integrator", password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="view_call"))
    return user


def test_every_api_request_leaves_one_row(client, api_key):
    key, plaintext = api_key
    call = CallFactory(called_number="8856")

    ok = api(client, action="GetCallURL", apiKey=plaintext, callID=str(call.pk))
    bad = api(client, action="GetCallURL", apiKey=str(uuid.uuid4()), callID=str(call.pk))

    assert ok.content.decode().startswith("http")
    assert bad.content.decode().startswith("ERROR 4")
    first, second = ApiRequest.objects.order_by("pk")
    assert (first.action, first.api_key_id, first.result_code, first.call_id) == (
        "GetCallURL",
        key.pk,
        0,
        call.pk,
    )
    assert first.client_address == "127.0.0.1"
    assert (second.api_key_id, second.result_code, second.call_id) == (None, 4, None)
    assert first.duration_ms >= 0
    assert abs(first.at - timezone.now()) < timedelta(minutes=1)


def test_no_row_and_no_admin_page_holds_a_key_token_or_password(
    client, admin_client, api_key, api_user
):
    key, plaintext = api_key
    token_answer = api(
        client, action="RequestToken", apiKey=plaintext, userName="integrator", password=PASSWORD
    )
    token = token_answer.content.decode().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", token), token_answer.content
    api(client, action="GetCallURL", apiKey=plaintext, token=token, extension="1", status="last")
    api(
        client,
        action="RequestToken",
        apiKey=plaintext,
        userName="integrator",
        password="wrong-pw-77",
    )
    api(client, action="ReleaseToken", apiKey=plaintext.upper(), token=token)

    rows = list(ApiRequest.objects.all())
    assert [r.result_code for r in rows] == [0, 2, 5, 0]
    assert rows[0].user_id == api_user.pk
    secrets_given = [plaintext, plaintext.upper(), token, PASSWORD, "wrong-pw-77"]
    for row in rows:
        for secret in secrets_given:
            assert secret not in every_value(row)
    export = admin_client.post(
        reverse("admin:calls_call_export"),
        {"format": "0", "callresource_id": "on", "callresource_caller_number": "on"},
    )
    pages = [
        admin_client.get(LIST_URL).content.decode(),
        admin_client.get(
            reverse("admin:audit_apirequest_change", args=[rows[0].pk])
        ).content.decode(),
        admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode(),
        admin_client.get(reverse("admin:apikeys_apisession_changelist")).content.decode(),
        admin_client.get(reverse("admin:index")).content.decode(),
        b"".join(export.streaming_content).decode(),
    ]
    assert export["Content-Type"].startswith("text/csv")
    for page in pages:
        for secret in secrets_given:
            assert secret not in page


def test_the_trail_is_read_only_in_the_admin(admin_client, api_key):
    key, _ = api_key
    row = ApiRequest.objects.create(at=timezone.now(), api_key=key, result_code=0, duration_ms=1)
    change_url = reverse("admin:audit_apirequest_change", args=[row.pk])

    assert admin_client.get(reverse("admin:audit_apirequest_add")).status_code == 403
    assert admin_client.post(change_url, {"result_code": "9"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:audit_apirequest_delete", args=[row.pk])).status_code
        == 403
    )
    assert 'name="result_code"' not in admin_client.get(change_url).content.decode()
    row.refresh_from_db()
    assert row.result_code == 0


def test_the_trail_is_filtered_by_key_code_and_date(admin_client):
    crm, _ = create_api_key("CRM key")
    pbx, _ = create_api_key("PBX key")
    now = timezone.now()
    ApiRequest.objects.create(at=now, api_key=crm, action="A-CRM-OK", result_code=0, duration_ms=1)
    ApiRequest.objects.create(at=now, api_key=pbx, action="A-PBX-BAD", result_code=4, duration_ms=1)
    ApiRequest.objects.create(
        at=now - timedelta(days=60), api_key=crm, action="A-CRM-OLD", result_code=0, duration_ms=1
    )

    def actions(query: str) -> set[str]:
        html = admin_client.get(f"{LIST_URL}?{query}").content.decode()
        return {a for a in ("A-CRM-OK", "A-PBX-BAD", "A-CRM-OLD") if a in html}

    assert actions(f"api_key__id__exact={crm.pk}") == {"A-CRM-OK", "A-CRM-OLD"}
    assert actions("result_code=4") == {"A-PBX-BAD"}
    since = quote((timezone.now() - timedelta(days=7)).isoformat())
    assert actions(f"at__gte={since}") == {"A-CRM-OK", "A-PBX-BAD"}
    assert actions("result_code=nonsense") == set()


def test_the_audit_list_needs_no_extra_query_per_row(admin_client, django_assert_max_num_queries):
    key, _ = create_api_key("Busy key")
    for _ in range(40):
        ApiRequest.objects.create(at=timezone.now(), api_key=key, result_code=0, duration_ms=1)

    with django_assert_max_num_queries(10):
        assert admin_client.get(LIST_URL).status_code == 200


def test_the_audit_list_links_the_call(admin_client):
    call_id = uuid.uuid4()
    ApiRequest.objects.create(at=timezone.now(), result_code=0, call_id=call_id, duration_ms=1)

    html = admin_client.get(LIST_URL).content.decode()

    assert reverse("admin:calls_call_change", args=[call_id]) in html


# --- the writer ------------------------------------------------------------------------


def record(**overrides) -> None:
    values: dict[str, Any] = {
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "action": "GetCallURL",
        "api_key_id": None,
        "user_id": None,
        "client_address": "192.0.2.1",
        "result_code": 0,
        "call_id": None,
        "duration_ms": 4,
    }
    values.update(overrides)
    services.record_api_request(**values)


def test_buffered_rows_wait_for_a_flush(settings):
    settings.AUDIT_FLUSH_SECONDS = 3600
    settings.AUDIT_FLUSH_ROWS = 1000
    try:
        for _ in range(3):
            record()
        assert ApiRequest.objects.count() == 0

        assert services.flush() == 3
        assert ApiRequest.objects.count() == 3
    finally:
        services.flush()


def test_a_malformed_client_address_does_not_lose_the_row():
    record(client_address="not-an-ip", action="x" * 200)

    row = ApiRequest.objects.get()
    assert row.client_address is None
    assert len(row.action) == 64


def test_a_row_for_a_deleted_key_is_kept_without_the_link(settings):
    key, _ = create_api_key("Soon gone")
    settings.AUDIT_FLUSH_SECONDS = 3600
    settings.AUDIT_FLUSH_ROWS = 1000
    record(api_key_id=key.pk)
    record(api_key_id=key.pk + 1000)  # never existed

    assert services.flush() == 2
    assert set(ApiRequest.objects.values_list("api_key_id", flat=True)) == {key.pk, None}


@pytest.mark.django_db(transaction=True)
def test_the_background_flusher_writes_within_about_a_second(settings):
    services.flush()  # nothing left over from earlier tests
    settings.AUDIT_FLUSH_SECONDS = 0.2
    settings.AUDIT_FLUSH_ROWS = 1000
    key, _ = create_api_key("Flushed in background")
    revoke_api_key(key)
    ours = ApiRequest.objects.filter(api_key=key, result_code=4)
    try:
        record(api_key_id=key.pk, result_code=4)
        deadline = time.monotonic() + 5
        while not ours.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ours.count() == 1
    finally:
        settings.AUDIT_FLUSH_SECONDS = 0
        services.flush()


@pytest.mark.django_db(transaction=True)
def test_a_full_buffer_is_written_without_waiting_for_the_interval(settings):
    services.flush()  # nothing left over from earlier tests
    settings.AUDIT_FLUSH_SECONDS = 3600
    settings.AUDIT_FLUSH_ROWS = 5
    try:
        for _ in range(5):
            record()
        deadline = time.monotonic() + 5
        while ApiRequest.objects.count() < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ApiRequest.objects.count() == 5
    finally:
        settings.AUDIT_FLUSH_SECONDS = 0
        services.flush()


def test_the_detail_page_speaks_the_lists_words(client, admin_client, api_key):
    key, plaintext = api_key
    call = CallFactory()
    api(client, action="GetCallURL", apiKey=plaintext, callID=str(call.pk))
    row = ApiRequest.objects.get()

    page = re.sub(
        r"\s+",
        " ",
        re.sub(
            r"<[^>]+>",
            " ",
            admin_client.get(
                reverse("admin:audit_apirequest_change", args=[row.pk])
            ).content.decode(),
        ),
    )

    assert f"API key: {key.name}" in page
    assert f"Call: {call.pk}" in page
    assert "Result: " in page
    for raw in ("Api key", "Call id", "Result code", "Duration ms"):
        assert raw not in page
