"""Every result code, in every response type, with its HTTP status (contract §2–§3)."""

import json
import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from apikeys.services import create_api_key
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

CONTENT_TYPES = {
    "XML": "text/xml; charset=UTF-8",
    "HTML": "text/html; charset=UTF-8",
    "TEXT": "text/plain; charset=UTF-8",
    "JSON": "application/json",
}


def _ok(key):
    call = CallFactory(called_number="8856")
    return {"apiKey": key, "callID": str(call.pk)}


def _invalid(key):
    return {"apiKey": key}


def _not_found(key):
    return {"apiKey": key, "callID": str(uuid.uuid4())}


def _ambiguous(key):
    started = timezone.now() - timedelta(minutes=3)
    CallFactory.create_batch(2, called_number="8856", started_at=started, ended_at=None)
    return {"apiKey": key, "extension": "8856", "status": "ongoing"}


def _invalid_key(key):
    return {"apiKey": str(uuid.uuid4()), "callID": str(uuid.uuid4())}


def _authentication_failed(key):
    _, plaintext = create_api_key("Needs a token", requires_auth=True)
    return {"apiKey": plaintext, "callID": str(uuid.uuid4())}


def _access_denied(key):
    _, plaintext = create_api_key("Office only", networks=["192.0.2.0/24"])
    return {"apiKey": plaintext, "callID": str(uuid.uuid4())}


SCENARIOS = {
    0: (_ok, 200),
    1: (_invalid, 200),
    2: (_not_found, 200),
    3: (_ambiguous, 200),
    4: (_invalid_key, 200),
    5: (_authentication_failed, 200),
    6: (_access_denied, 200),
}


def _check(response, response_type, code, status):
    assert response.status_code == status
    assert response["Content-Type"] == CONTENT_TYPES[response_type]
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.content.decode()
    if response_type == "XML":
        assert f'<Response code="{code}" type="GetCallURL"' in body
        assert ("<ErrorMessage>" in body) == (code != 0)
    elif response_type == "HTML":
        assert body.startswith("<!DOCTYPE html>")
        assert f'<span class="code">{code}</span>' in body
    elif response_type == "TEXT":
        assert body.endswith("\n") and body.count("\n") == 1
        if code:
            assert body.startswith(f"ERROR {code}: ")
        else:
            assert body.startswith("http://testserver/verba/gwtCallDetail.do?ccdrId=")
    else:
        data = json.loads(body)
        assert data["code"] == code and data["type"] == "GetCallURL"
        assert ("errorMessage" in data) == (code != 0)
        assert ("callURL" in data) == (code == 0)


@pytest.mark.parametrize("response_type", CONTENT_TYPES)
@pytest.mark.parametrize("code", SCENARIOS)
def test_each_result_code_is_answered_in_each_response_type(api, key, code, response_type):
    scenario, status = SCENARIOS[code]
    params = scenario(key)
    response = api(action="GetCallURL", responseType=response_type.lower(), **params)
    _check(response, response_type, code, status)


@pytest.mark.parametrize("response_type", CONTENT_TYPES)
def test_too_many_requests_is_code_7_with_http_429_and_retry_after(
    api, key, settings, response_type
):
    settings.API_THROTTLE = "1/min"
    params = {"action": "GetCallURL", "apiKey": key, "callID": str(uuid.uuid4())}
    api(**params)
    response = api(responseType=response_type, **params)
    _check(response, response_type, 7, 429)
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize("response_type", CONTENT_TYPES)
def test_a_database_outage_is_code_9_with_http_503(api, key, monkeypatch, response_type):
    def down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("verba.actions.lookup.call_by_id_in_scope", down)
    response = api(
        action="GetCallURL", apiKey=key, callID=str(uuid.uuid4()), responseType=response_type
    )
    _check(response, response_type, 9, 503)


@pytest.mark.parametrize("response_type", CONTENT_TYPES)
def test_an_unexpected_exception_is_code_9_in_the_requested_format(
    api, key, monkeypatch, response_type
):
    def broken(*args, **kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr("verba.actions.lookup.call_by_id_in_scope", broken)
    response = api(
        action="GetCallURL", apiKey=key, callID=str(uuid.uuid4()), responseType=response_type
    )
    _check(response, response_type, 9, 503)
    assert b"Traceback" not in response.content
    assert b"ZeroDivisionError" not in response.content


@pytest.mark.parametrize("response_type", CONTENT_TYPES)
def test_a_database_that_refuses_every_query_is_code_9_not_an_error_page(
    api, key, monkeypatch, response_type
):
    from django.db.backends.utils import CursorWrapper

    def refuse(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(CursorWrapper, "execute", refuse)
    response = api(
        action="GetCallURL",
        apiKey=key,
        extension="8856",
        status="last",
        responseType=response_type,
    )
    monkeypatch.undo()
    assert response.status_code == 503
    assert response["Content-Type"] == CONTENT_TYPES[response_type]
    assert b"temporarily unavailable" in response.content
    assert key.encode() not in response.content


def test_too_many_next_waiters_is_code_9_with_retry_after_and_no_traceback(
    api, key, monkeypatch, caplog
):
    from longpoll.watcher import TooManyWaiting

    def full(*args, **kwargs):
        raise TooManyWaiting

    monkeypatch.setattr("verba.actions.lookup.calls_by_status", full)
    response = api(
        action="GetCallURL", apiKey=key, extension="8856", status="next", responseType="JSON"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert json.loads(response.content)["code"] == 9
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
