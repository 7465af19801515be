"""Requests Django refuses before any view (a Host outside ALLOWED_HOSTS) still get each
API's own kind of answer, never Django's bare "Bad Request (400)" page."""

import json

import pytest

pytestmark = pytest.mark.django_db

FOREIGN = {"host": "evil.example"}
KEY = "a8343631-9f35-4a3a-83f0-9e81592339fb"
HOST_MESSAGE = "The request's Host header names a host this server does not serve."


def test_a_foreign_host_gets_the_business_api_code_1_in_json(client):
    response = client.get(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": KEY, "responseType": "JSON"},
        headers=FOREIGN,
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "code": 1,
        "type": "GetCallURL",
        "timeZone": "UTC",
        "errorMessage": HOST_MESSAGE,
    }
    assert response["Cache-Control"] == "no-store"


def test_a_foreign_host_gets_code_1_in_xml_by_default(client):
    response = client.get("/verba/api", {"action": "GetCallURL", "apiKey": KEY}, headers=FOREIGN)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert response.content == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n'
        b'<Response code="1" type="GetCallURL">\n'
        b"<ErrorMessage>The request's Host header names a host this server does not serve."
        b"</ErrorMessage>\n</Response>\n</VerbaApi>\n"
    )


def test_a_foreign_host_asking_for_media_gets_code_1_in_xml_whatever_response_type_says(client):
    response = client.get(
        "/verba/api",
        {"action": "GetMediaEncoded", "apiKey": KEY, "responseType": "JSON"},
        headers=FOREIGN,
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert b'<Response code="1" type="GetMediaEncoded">' in response.content


@pytest.mark.parametrize(
    ("response_type", "content_type"),
    [("text", "text/plain; charset=UTF-8"), ("Html", "text/html; charset=UTF-8")],
)
def test_a_foreign_host_gets_code_1_in_text_and_html_too(client, response_type, content_type):
    response = client.get(
        "/verba/api", {"action": "RequestToken", "responseType": response_type}, headers=FOREIGN
    )
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert "Host header" in response.content.decode()


def test_a_foreign_host_posting_a_form_gets_the_format_the_body_asks_for(client):
    response = client.post(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": KEY, "responseType": "JSON"},
        headers=FOREIGN,
    )
    assert json.loads(response.content)["code"] == 1


def test_the_api_key_is_neither_judged_nor_echoed_for_a_foreign_host(client):
    response = client.get(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": KEY, "responseType": "JSON"},
        headers=FOREIGN,
    )
    assert json.loads(response.content)["code"] == 1  # not 4: the key was never looked at
    assert KEY not in response.content.decode()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_foreign_host_gets_a_json_400_from_the_ingestion_api(client, method):
    response = getattr(client, method)("/api/v1/calls", headers=FOREIGN)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The Host header names a host this server does not serve."}


def test_a_foreign_host_gets_the_sites_own_400_page_elsewhere(client):
    response = client.get("/calls/", headers=FOREIGN)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<title>Bad request · callportal</title>" in html
    assert "css/site.css" in html
    assert 'href="/"' in html


def test_an_allowed_host_still_reaches_the_business_api(client):
    response = client.get("/verba/api", {"action": "GetCallURL", "responseType": "JSON"})
    assert json.loads(response.content)["code"] == 4
