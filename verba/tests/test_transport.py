"""Transport (contract §1) and the order of checks (§3)."""

import uuid

import pytest
from django.test import Client

from apikeys.services import create_api_key
from calls.tests.factories import CallFactory
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db


@pytest.fixture
def call():
    return CallFactory(called_number="8856")


def _code(response) -> int:
    text = response.content.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return int(text.split('<Response code="', 1)[1].split('"', 1)[0])


def test_a_form_post_answers_like_a_get(api, key, call):
    response = api(method="post", action="GetCallURL", apiKey=key, callID=str(call.pk))
    assert _code(response) == 0
    assert str(call.pk).encode() in response.content


def test_a_multipart_post_answers_like_a_get(client, key, call):
    response = client.post(
        "/verba/api", {"action": "GetCallURL", "apiKey": key, "callID": str(call.pk)}
    )  # the test client encodes dictionaries as multipart/form-data
    assert _code(response) == 0


def test_a_post_may_carry_parameters_in_its_query_string(client, key, call):
    response = client.post(
        f"/verba/api?action=GetCallURL&apiKey={key}",
        f"callID={call.pk}",
        content_type="application/x-www-form-urlencoded",
    )
    assert _code(response) == 0


def test_the_body_wins_over_the_query_string(client, key, call):
    response = client.post(
        f"/verba/api?action=GetCallURL&apiKey={key}&callID={uuid.uuid4()}&responseType=JSON",
        f"callID={call.pk}&responseType=TEXT",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.content.decode().startswith("http://testserver/verba/gwtCallDetail.do")
    assert str(call.pk) in response.content.decode()


def test_a_json_body_is_refused_with_code_1(client, key):
    response = client.post(
        "/verba/api", {"action": "GetCallURL", "apiKey": key}, content_type="application/json"
    )
    assert response.status_code == 200
    assert _code(response) == 1
    assert b"x-www-form-urlencoded" in response.content


def test_a_broken_multipart_body_is_refused_with_code_1(client, key):
    response = client.post(
        f"/verba/api?action=GetCallURL&apiKey={key}",
        b"--xyz\r\nbroken",
        content_type="multipart/form-data; boundary=xyz",
    )
    assert _code(response) in (1,)


class _StoppedBody:
    """A body whose client stopped sending: the socket's read timeout fires."""

    def read(self, *args):
        raise TimeoutError("timed out")

    readline = read


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"]
)
def test_a_post_whose_body_cannot_be_read_is_answered_in_the_response_type_asked(
    client, key, content_type
):
    response = client.post(
        f"/verba/api?action=GetCallURL&apiKey={key}&responseType=JSON",
        b"callID=1",
        content_type=content_type,
        **{"wsgi.input": _StoppedBody()},
    )

    assert response["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["code"] == 1, answer
    assert "stopped arriving" in answer["errorMessage"]


def test_parameter_names_are_case_sensitive(api, key, call):
    response = api(action="GetCallURL", apikey=key, callID=str(call.pk))
    assert _code(response) == 4


def test_action_values_are_case_sensitive(api, key, call):
    response = api(action="getcallurl", apiKey=key, callID=str(call.pk))
    assert _code(response) == 1
    assert b'type="getcallurl"' in response.content


@pytest.mark.parametrize("name", ["apiKey", "token", "callID", "extension", "status", "foo"])
def test_a_repeated_parameter_is_rejected(client, key, call, name):
    query = f"action=GetCallURL&apiKey={key}&callID={call.pk}&{name}=a&{name}=b"
    response = client.get(f"/verba/api?{query}")
    assert _code(response) == 1
    assert b"more than once" in response.content


def test_a_repeated_api_key_is_rejected_even_when_both_values_are_valid(client, key, call):
    response = client.get(
        f"/verba/api?action=GetCallURL&apiKey={key}&apiKey={key}&callID={call.pk}"
    )
    assert _code(response) == 1
    assert b"The parameter apiKey is given more than once." in response.content


def test_a_repeated_parameter_in_the_body_is_rejected(client, key, call):
    response = client.post(
        "/verba/api",
        f"action=GetCallURL&apiKey={key}&callID={call.pk}&callID={call.pk}",
        content_type="application/x-www-form-urlencoded",
    )
    assert _code(response) == 1


def test_a_repeated_response_type_is_answered_in_xml(client, key, call):
    response = client.get(
        f"/verba/api?action=GetCallURL&apiKey={key}&callID={call.pk}"
        "&responseType=JSON&responseType=JSON"
    )
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert _code(response) == 1


def test_the_key_and_token_may_come_in_headers(api, call):
    _, plaintext = create_api_key("Header client")
    response = api(action="GetCallURL", callID=str(call.pk), headers={"X-Api-Key": plaintext})
    assert _code(response) == 0


def test_a_key_in_both_header_and_parameter_is_rejected(api, key, call):
    response = api(action="GetCallURL", apiKey=key, callID=str(call.pk), headers={"X-Api-Key": key})
    assert _code(response) == 1
    assert b"X-Api-Key" in response.content


def test_a_token_in_both_header_and_parameter_is_rejected(api, key, call):
    token = "a" * 32
    response = api(
        action="GetCallURL",
        apiKey=key,
        token=token,
        callID=str(call.pk),
        headers={"X-Api-Token": token},
    )
    assert _code(response) == 1


@pytest.mark.parametrize("method", ["put", "patch", "delete", "head", "options"])
def test_other_methods_get_405_with_allow_and_a_code_1_xml_body(client, method):
    response = getattr(client, method)("/verba/api?action=GetCallURL&responseType=JSON")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    if method != "head":
        assert b'<Response code="1" type="GetCallURL">' in response.content


def test_the_405_body_is_golden(client):
    assert client.put("/verba/api").content == golden("method_not_allowed.xml")


def test_no_csrf_token_is_needed(key, call):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/verba/api", {"action": "GetCallURL", "apiKey": key, "callID": str(call.pk)}
    )
    assert _code(response) == 0


def test_the_answer_never_varies_on_accept(api, key, call):
    response = api(action="GetCallURL", apiKey=key, callID=str(call.pk))
    assert "Accept" not in response.get("Vary", "")


# --- order of checks: responseType → action → repeated → throttling → apiKey → network →
#     token → action parameters → lookup --------------------------------------------------


def test_a_bad_response_type_comes_before_a_missing_action(api):
    response = api(responseType="YAML")
    assert b"responseType" in response.content


def test_a_missing_action_comes_before_repeated_parameters(client):
    response = client.get("/verba/api?apiKey=x&apiKey=y")
    assert b"The action parameter is missing." in response.content


def test_repeated_parameters_come_before_throttling(client, key, settings):
    settings.API_THROTTLE = "1/min"
    client.get(f"/verba/api?action=GetCallURL&apiKey={key}")
    response = client.get(f"/verba/api?action=GetCallURL&apiKey={key}&status=a&status=b")
    assert response.status_code == 200 and _code(response) == 1


def test_throttling_comes_before_the_key_check(api, settings):
    settings.API_THROTTLE = "1/min"
    api(action="GetCallURL", apiKey="not-a-key")
    response = api(action="GetCallURL", apiKey="not-a-key")
    assert response.status_code == 429 and _code(response) == 7


def test_a_malformed_key_is_code_4_like_an_unknown_one(api):
    response = api(action="GetCallURL", apiKey="12345", callID="also-bad")
    assert _code(response) == 4
    assert b"The API key is invalid, revoked or expired." in response.content


def test_the_key_check_comes_before_the_network_restriction(api):
    create_api_key("Office only", networks=["192.0.2.0/24"])
    response = api(action="GetCallURL", apiKey=str(uuid.uuid4()))
    assert _code(response) == 4


def test_the_network_restriction_comes_before_the_token(api):
    _, plaintext = create_api_key("Office", networks=["192.0.2.0/24"], requires_auth=True)
    response = api(action="GetCallURL", apiKey=plaintext, callID="bad")
    assert _code(response) == 6


def test_the_token_comes_before_action_parameters(api):
    _, plaintext = create_api_key("Needs token", requires_auth=True)
    response = api(action="GetCallURL", apiKey=plaintext, callID="bad")
    assert _code(response) == 5


def test_action_parameters_come_before_the_lookup(api, key):
    response = api(action="GetCallURL", apiKey=key, callID="bad")
    assert _code(response) == 1


def test_an_oversized_form_body_is_code_1(client, key):
    response = client.post(
        f"/verba/api?action=GetCallURL&apiKey={key}",
        "extension=" + "9" * (3 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert _code(response) == 1
    assert b"too large" in response.content


def test_too_many_query_parameters_is_code_1(client, key):
    many = "&".join(f"p{i}=1" for i in range(1500))
    response = client.get(f"/verba/api?action=GetCallURL&apiKey={key}&{many}")
    assert response.status_code == 200
    assert _code(response) == 1
    assert b"too many parameters" in response.content
