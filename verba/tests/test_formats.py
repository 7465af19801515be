"""Response formats: byte-exact XML, HTML, TEXT and JSON, chosen by responseType only."""

import json
import uuid

import pytest
from django.test import override_settings

from calls.tests.factories import CallFactory
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")
URL = f"https://calls.example.com/verba/gwtCallDetail.do?ccdrId={CALL_ID}"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_URL = "https://calls.example.com"


@pytest.fixture
def call():
    return CallFactory(id=CALL_ID, called_number="8856")


def test_verbas_sample_request_answers_the_url_on_one_line_in_text(api, key, call):
    response = api(
        action="GetCallURL", apiKey=key, responseType="TEXT", extension="8856", status="last"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.content == f"{URL}\n".encode()


def test_the_sample_request_without_response_type_answers_golden_xml(api, key, call):
    response = api(action="GetCallURL", apiKey=key, extension="8856", status="last")
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert response.content == golden("get_call_url_success.xml")


def test_a_call_that_cannot_be_found_answers_golden_xml(api, key):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID))
    assert response.status_code == 200
    assert response.content == golden("get_call_url_not_found.xml")


def test_a_missing_action_answers_an_empty_type(api, key):
    assert api(apiKey=key).content == golden("action_missing.xml")


def test_an_unknown_action_is_echoed_escaped(api, key):
    response = api(action='Get<"Call">&URL', apiKey=key)
    assert response.content == golden("action_unknown_escaped.xml")


def test_an_unknown_action_is_echoed_at_most_64_characters(api, key):
    response = api(action="X" * 100, apiKey=key)
    assert f'type="{"X" * 64}"'.encode() in response.content
    assert b"X" * 65 not in response.content


def test_an_invalid_key_answers_golden_xml(api):
    response = api(action="GetCallURL", apiKey=str(uuid.uuid4()), callID=str(CALL_ID))
    assert response.content == golden("invalid_key.xml")


@pytest.mark.parametrize("value", ["xml", "Xml", "XML", " xml "])
def test_response_type_is_case_insensitive(api, key, call, value):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType=value)
    assert response.content == golden("get_call_url_success.xml")


@pytest.mark.parametrize(
    ("accept", "response_type", "content_type"),
    [
        ("text/html,application/xhtml+xml;q=0.9", None, "text/xml; charset=UTF-8"),
        ("application/json", None, "text/xml; charset=UTF-8"),
        ("text/xml", "json", "application/json"),
        ("application/json", "text", "text/plain; charset=UTF-8"),
    ],
)
def test_the_accept_header_never_changes_the_format(
    api, key, call, accept, response_type, content_type
):
    params = {"action": "GetCallURL", "apiKey": key, "callID": str(CALL_ID)}
    if response_type:
        params["responseType"] = response_type
    response = api(headers={"Accept": accept}, **params)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type


def test_drfs_format_override_is_not_a_format_switch(api, key, call):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), format="json")
    assert response.content == golden("get_call_url_success.xml")


def test_an_unknown_response_type_is_answered_in_xml_with_code_1(api, key, call):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType="YAML")
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert b'<Response code="1" type="GetCallURL">' in response.content
    assert b"responseType" in response.content


def test_json_success_carries_code_type_and_url(api, key, call):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType="JSON")
    assert response["Content-Type"] == "application/json"
    assert response.content == (
        b'{"code": 0, "type": "GetCallURL", "timeZone": "UTC", "callURL": "' + URL.encode() + b'"}'
    )


def test_json_error_carries_the_error_message(api, key):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType="json")
    assert json.loads(response.content) == {
        "code": 2,
        "type": "GetCallURL",
        "timeZone": "UTC",
        "errorMessage": "Unable to retrieve the call URL, because the call cannot be found.",
    }


def test_html_success_is_a_document_with_the_url_as_a_link(api, key, call):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType="html")
    body = response.content.decode()
    assert response["Content-Type"] == "text/html; charset=UTF-8"
    assert body.startswith("<!DOCTYPE html>\n")
    assert '<meta charset="utf-8">' in body
    assert "<title>GetCallURL – Verba Business API</title>" in body
    assert f'<a href="{URL}">{URL}</a>' in body
    assert "<script" not in body and "<link" not in body and "src=" not in body


def test_html_error_shows_code_and_message_escaped(api, key):
    response = api(action="<b>x</b>", apiKey=key, responseType="HTML")
    body = response.content.decode()
    assert "<b>x</b>" not in body
    assert "&lt;b&gt;x&lt;/b&gt;" in body
    assert '<span class="code">1</span>' in body
    assert "The action is not known." in body


def test_text_error_is_one_line_with_code_and_message(api, key):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType="TEXT")
    assert response.content == (
        b"ERROR 2: Unable to retrieve the call URL, because the call cannot be found.\n"
    )


@pytest.mark.parametrize("response_type", ["XML", "HTML", "TEXT", "JSON"])
def test_control_characters_are_replaced_in_every_format(api, key, response_type):
    response = api(action="Bad\x00\x07\x1bAction", apiKey=key, responseType=response_type)
    assert not any(ch in response.content for ch in (b"\x00", b"\x07", b"\x1b"))
    if response_type == "XML":
        assert 'type="Bad\ufffd\ufffd\ufffdAction"'.encode() in response.content
    if response_type == "JSON":
        assert json.loads(response.content)["type"] == "Bad\ufffd\ufffd\ufffdAction"


def test_xml_with_control_characters_stays_well_formed(api, key):
    from xml.etree import ElementTree

    response = api(action="A\x01&<>\"'\x0bB", apiKey=key)
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own response
    assert root.find("Response").get("type") == "A\ufffd&<>\"'\ufffdB"


def test_the_public_url_is_derived_from_the_request_when_unset(api, key, call, settings):
    settings.PUBLIC_URL = ""
    response = api(
        action="GetCallURL",
        apiKey=key,
        callID=str(CALL_ID),
        responseType="TEXT",
        headers={"Host": "localhost"},
    )
    assert (
        response.content == f"http://localhost/verba/gwtCallDetail.do?ccdrId={CALL_ID}\n".encode()
    )


@override_settings(
    TRUSTED_PROXIES=["127.0.0.1"],
    USE_X_FORWARDED_HOST=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    ALLOWED_HOSTS=["calls.example.org", "testserver"],
)
def test_the_derived_url_honours_the_configured_proxy_headers(api, key, call, settings):
    settings.PUBLIC_URL = ""
    response = api(
        action="GetCallURL",
        apiKey=key,
        callID=str(CALL_ID),
        responseType="TEXT",
        headers={"X-Forwarded-Host": "calls.example.org", "X-Forwarded-Proto": "https"},
    )
    assert response.content == (
        f"https://calls.example.org/verba/gwtCallDetail.do?ccdrId={CALL_ID}\n".encode()
    )
