"""A Content-Type charset never breaks a request (callportal/charsets.py).

Django builds a request by decoding its query string in the Content-Type's charset; a codec
Python knows but cannot decode text with made it raise before any view, on any URL and even
on a GET. Query strings read as UTF-8 whatever the header says; a body in a charset that
cannot be decoded gets each part of the site's own "bad request" answer.
"""

import codecs
import encodings
import encodings.aliases
import json
import pkgutil
from urllib.parse import quote

import pytest
from django.test import Client

from audit.models import ApiRequest
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

CALL_ID = "87a9902f-83b3-519c-8621-d728e25f58ff"
ODD = ["undefined", "punycode", "idna", "rot13", "hex", "base64", "zlib", "unicode_escape"]
FOREIGN = ["cp037", "iso-8859-1", "utf-16", "utf-7"]
SITE_PAGES = ["/accounts/login/", "/admin/login/"]
FORM = "application/x-www-form-urlencoded"


def every_codec_name() -> list[str]:
    """Every codec this Python knows (found by module name or alias), once each."""
    names = set(encodings.aliases.aliases) | {
        module.name for module in pkgutil.iter_modules(encodings.__path__)
    }
    known: dict[str, str] = {}
    for name in sorted(names):
        try:
            known.setdefault(codecs.lookup(name).name, name)
        except LookupError:
            continue
    return sorted(known.values())


@pytest.fixture
def client() -> Client:
    # Failures must show as the answer a client would get, not as an exception in the test.
    return Client(raise_request_exception=False)


@pytest.fixture
def call():
    return CallFactory(id=CALL_ID, called_number="8856")


def api_url(key: str, **extra: str) -> str:
    return f"/verba/api?action=GetCallURL&apiKey={key}&callID={CALL_ID}&" + "&".join(
        f"{name}={value}" for name, value in extra.items()
    )


def post_raw(client: Client, path: str, body: bytes, content_type: str, **kwargs):
    """POST these bytes as they are (client.post would re-encode them in the charset)."""
    return client.generic("POST", path, body, content_type=content_type, **kwargs)


def code_of(response) -> int:
    return json.loads(response.content)["code"]


# --- GET: the header's charset is ignored -------------------------------------------------


@pytest.mark.parametrize("charset", ODD + FOREIGN)
def test_a_business_api_get_answers_whatever_charset_the_content_type_names(
    client, api_key, call, charset
):
    response = client.get(
        api_url(api_key[1], responseType="JSON"),
        headers={"Content-Type": f"{FORM}; charset={charset}"},
    )

    assert response.status_code == 200
    assert code_of(response) == 0
    assert ApiRequest.objects.get().result_code == 0


def test_no_codec_python_knows_breaks_a_get(client, api_key, call):
    for charset in every_codec_name():
        response = client.get(
            api_url(api_key[1], responseType="JSON"),
            headers={"Content-Type": f"text/plain; charset={charset}"},
        )
        assert (charset, response.status_code, code_of(response)) == (charset, 200, 0)


@pytest.mark.parametrize("charset", ODD + FOREIGN)
def test_the_query_string_reads_as_utf_8_whatever_the_charset(client, api_key, charset):
    # An unknown action is echoed in `type`: it shows how the query string was decoded.
    response = client.get(
        f"/verba/api?action={quote('Café')}&apiKey={api_key[1]}&responseType=JSON",
        headers={"Content-Type": f"{FORM}; charset={charset}"},
    )

    assert json.loads(response.content)["type"] == "Café"


@pytest.mark.parametrize("charset", ODD + FOREIGN)
@pytest.mark.parametrize("path", ["/api/v1/calls", *SITE_PAGES])
def test_the_other_apis_and_the_login_pages_answer_a_get_with_any_charset(
    client, path, charset, ingest_key
):
    response = client.get(
        path,
        headers={"Content-Type": f"{FORM}; charset={charset}", "X-Api-Key": ingest_key},
    )

    assert response.status_code == 200


@pytest.fixture
def ingest_key() -> str:
    from apikeys.services import create_api_key

    return create_api_key("PBX connector", can_ingest=True, can_query=False)[1]


# --- a body in a charset that cannot be decoded ---------------------------------------------


@pytest.mark.parametrize("charset", [*ODD, "no-such-charset"])
@pytest.mark.parametrize("content_type", [FORM, "multipart/form-data; boundary=XyZ"])
def test_a_business_api_body_in_an_undecodable_charset_is_code_1_in_the_requested_format(
    client, api_key, call, charset, content_type
):
    if content_type == FORM:
        body = f"action=GetCallURL&apiKey={api_key[1]}&callID={CALL_ID}".encode()
    else:
        body = (
            b'--XyZ\r\nContent-Disposition: form-data; name="action"\r\n\r\n'
            b"GetCallURL\r\n--XyZ--\r\n"
        )

    response = post_raw(
        client,
        "/verba/api?responseType=TEXT",
        body,
        content_type=f"{content_type}; charset={charset}",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.content == (
        b"ERROR 1: The request body's charset cannot be decoded; send it as UTF-8.\n"
    )
    assert ApiRequest.objects.get().result_code == 1


def test_a_business_api_body_in_a_real_charset_is_read_in_it(client, api_key, call):
    # Java's form encoder declares ISO-8859-1 and percent-encodes in it.
    response = client.post(
        "/verba/api?responseType=JSON",
        f"action=Caf%E9&apiKey={api_key[1]}",
        content_type=f"{FORM}; charset=ISO-8859-1",
    )
    assert json.loads(response.content)["type"] == "Café"

    response = client.post(
        "/verba/api?responseType=JSON",
        f"action=GetCallURL&apiKey={api_key[1]}&callID={CALL_ID}",
        content_type=f"{FORM}; charset=ISO-8859-1",
    )
    assert code_of(response) == 0


def test_an_empty_body_with_an_undecodable_charset_is_no_body(client, api_key, call):
    response = post_raw(
        client, api_url(api_key[1], responseType="JSON"), b"", f"{FORM}; charset=undefined"
    )

    assert code_of(response) == 0


@pytest.mark.parametrize("charset", ODD)
def test_an_ingestion_body_in_an_undecodable_charset_is_a_json_400(client, ingest_key, charset):
    response = post_raw(
        client,
        "/api/v1/calls",
        json.dumps({"caller_number": "1", "called_number": "2"}).encode(),
        content_type=f"application/json; charset={charset}",
        headers={"X-Api-Key": ingest_key},
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "charset" in response.json()["detail"]


@pytest.mark.parametrize("charset", ODD)
@pytest.mark.parametrize("path", SITE_PAGES)
def test_a_login_form_in_an_undecodable_charset_gets_the_sites_400_page(client, path, charset):
    response = post_raw(
        client, path, b"username=staff&password=pw-staff-1", f"{FORM}; charset={charset}"
    )

    assert response.status_code == 400
    assert b"<title>Bad request \xc2\xb7 callportal</title>" in response.content
