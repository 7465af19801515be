"""Every request leaves one audit row with ids only; secrets never leak anywhere."""

import base64
import importlib
import logging
import sys
import uuid

import pytest
from django.test import RequestFactory
from django.utils import timezone

from apikeys.models import ApiSession
from apikeys.services import create_api_key
from audit.models import ApiRequest
from callportal.reporting import SecretScrubbingReporter
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-staff-1"


def _row() -> ApiRequest:
    (row,) = ApiRequest.objects.all()
    return row


def test_a_success_leaves_one_row_with_key_call_address_and_duration(api, api_key):
    stored, plaintext = api_key
    call = CallFactory()
    api(action="GetCallURL", apiKey=plaintext, callID=str(call.pk))
    row = _row()
    assert (row.action, row.result_code, row.call_id) == ("GetCallURL", 0, call.pk)
    assert row.api_key_id == stored.pk and row.user_id is None
    assert row.client_address == "127.0.0.1"
    assert row.duration_ms >= 0 and row.at is not None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, 1),
        ({"action": "Nope"}, 1),
        ({"action": "GetCallURL", "apiKey": str(uuid.uuid4())}, 4),
        ({"action": "GetCallURL", "callID": str(uuid.uuid4())}, 2),
    ],
)
def test_every_failure_leaves_one_row_with_its_code(api, key, params, code):
    params = {"apiKey": key, **params} if "apiKey" not in params else params
    api(**params)
    assert _row().result_code == code


def test_a_wrong_method_leaves_a_row_with_the_client_address_too(client):
    client.delete("/verba/api?action=GetCallURL", REMOTE_ADDR="192.0.2.7")
    row = _row()
    assert (row.action, row.result_code) == ("GetCallURL", 1)
    assert row.client_address == "192.0.2.7"


def test_a_throttled_request_leaves_a_row_with_code_7(api, key, settings):
    settings.API_THROTTLE = "1/min"
    api(action="GetCallURL", apiKey=key)
    api(action="GetCallURL", apiKey=key)
    assert sorted(ApiRequest.objects.values_list("result_code", flat=True)) == [1, 7]


def test_a_revoked_keys_requests_are_traced_to_the_key(api):
    stored, plaintext = create_api_key("Old")
    from apikeys.services import revoke_api_key

    revoke_api_key(stored)
    api(action="GetCallURL", apiKey=plaintext)
    row = _row()
    assert (row.result_code, row.api_key_id) == (4, stored.pk)


def test_a_token_request_records_the_user(api, key, staff_user):
    api(action="RequestToken", apiKey=key, userName="staff", password=PASSWORD)
    assert _row().user_id == staff_user.pk


def test_a_request_with_a_token_records_the_tokens_user(api, key, staff_user):
    token = _request_token(api, key)
    api(action="GetCallURL", apiKey=key, token=token, callID=str(uuid.uuid4()))
    assert list(ApiRequest.objects.values_list("user_id", flat=True)) == [staff_user.pk] * 2


def test_audit_rows_and_sessions_hold_no_secret(api, key, staff_user):
    token = _request_token(api, key)
    api(action="GetCallURL", apiKey=key, token=token, callID=str(uuid.uuid4()))
    dumped = str(list(ApiRequest.objects.values())) + str(list(ApiSession.objects.values()))
    for secret in (key, token, PASSWORD):
        assert secret not in dumped


@pytest.mark.parametrize("smuggled", ["apiKey", "token", "password"])
def test_an_unknown_action_is_stored_and_shown_as_a_marker_never_as_given(
    api, key, admin_client, smuggled
):
    secret = str(uuid.uuid4())
    # A client that forgot to encode its URL: the secret lands in the action's value.
    response = api(action=f"GetCallURL?{smuggled}={secret}", apiKey=key, responseType="JSON")

    assert response.json()["type"] == f"GetCallURL?{smuggled}={secret}"  # contract §2.1
    assert _row().action == "(unknown)"
    changelist = admin_client.get("/admin/audit/apirequest/")
    assert changelist.status_code == 200
    assert b"(unknown)" in changelist.content
    assert secret.encode() not in changelist.content
    detail = admin_client.get(f"/admin/audit/apirequest/{_row().pk}/change/")
    assert secret.encode() not in detail.content


def test_a_known_action_and_a_missing_one_are_stored_as_they_are(api, key):
    api(action="RequestToken", apiKey=key)
    api(apiKey=key)

    assert sorted(ApiRequest.objects.values_list("action", flat=True)) == ["", "RequestToken"]


def test_the_migration_replaces_unknown_actions_already_stored():
    from django.apps import apps

    migration = importlib.import_module("verba.migrations.0001_forget_unknown_audit_actions")
    secret = str(uuid.uuid4())
    for action in ("GetCallURL", f"GetCallURL?apiKey={secret}", "", "ReleaseToken"):
        ApiRequest.objects.create(at=timezone.now(), action=action, result_code=1, duration_ms=0)

    migration.forget_unknown_actions(apps, None)

    assert sorted(ApiRequest.objects.values_list("action", flat=True)) == [
        "",
        "(unknown)",
        "GetCallURL",
        "ReleaseToken",
    ]


def test_an_audit_failure_does_not_change_the_answer(api, key, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("audit store is full")

    monkeypatch.setattr("verba.views.record_api_request", broken)
    call = CallFactory()
    response = api(action="GetCallURL", apiKey=key, callID=str(call.pk), responseType="TEXT")
    assert response.status_code == 200 and str(call.pk) in response.content.decode()


def test_no_secret_reaches_the_log_when_a_request_fails(api, key, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr("verba.actions.lookup.call_by_id_in_scope", broken)
    with caplog.at_level(logging.DEBUG):
        response = api(
            action="GetCallURL",
            apiKey=key,
            token="T" * 32,
            password=PASSWORD,
            callID=str(uuid.uuid4()),
        )
        api(action="RequestToken", apiKey=key, userName="staff", password=PASSWORD)
    assert response.status_code == 200 or response.status_code == 503
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in (key, "T" * 32, PASSWORD):
        assert secret not in logged


def test_error_messages_never_echo_a_key_token_or_password(api, key, staff_user):
    bad_key = str(uuid.uuid4())
    responses = [
        api(action="GetCallURL", apiKey=bad_key, responseType=t) for t in ("XML", "JSON")
    ] + [
        api(action="GetCallURL", apiKey=key, token="Q" * 32),
        api(action="RequestToken", apiKey=key, userName="staff", password="wrong-pw-123"),
    ]
    for response in responses:
        for secret in (bad_key, key, "Q" * 32, "wrong-pw-123"):
            assert secret.encode() not in response.content


def test_error_reports_blank_api_secrets_everywhere():
    # Made at run time: the report shows source lines, which must not contain them either.
    key, token, password = str(uuid.uuid4()), uuid.uuid4().hex, uuid.uuid4().hex[:12]
    basic = base64.b64encode(f"staff:{password}".encode()).decode()
    request = RequestFactory().get(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": key, "token": token, "password": password},
        HTTP_X_API_KEY=key,
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )

    def handler(request, copied, raw_token):
        raise ValueError("boom")

    try:
        handler(request, key, token)
    except ValueError:
        reporter = SecretScrubbingReporter(request, *sys.exc_info())
    report = reporter.get_traceback_text() + reporter.get_traceback_html()
    assert "GetCallURL" in report  # the report is still useful
    for secret in (key, token, password, basic):
        assert secret not in report


def test_django_uses_the_scrubbing_reporter_and_filter(settings):
    from django.views.debug import get_default_exception_reporter_filter

    assert settings.DEFAULT_EXCEPTION_REPORTER == "callportal.reporting.SecretScrubbingReporter"
    assert type(get_default_exception_reporter_filter()).__name__ == "SecretScrubbingFilter"


def test_a_token_user_denied_for_lack_of_permission_is_named_in_the_trail(api, key, staff_user):
    from django.contrib.auth.models import Permission

    token = _request_token(api, key)
    staff_user.user_permissions.remove(Permission.objects.get(codename="view_call"))
    api(action="GetCallURL", apiKey=key, token=token, callID=str(uuid.uuid4()))
    denied = ApiRequest.objects.get(result_code=6)
    assert denied.user_id == staff_user.pk


def _request_token(api, key: str) -> str:
    response = api(
        action="RequestToken", apiKey=key, userName="staff", password=PASSWORD, responseType="TEXT"
    )
    return response.content.decode().strip()
