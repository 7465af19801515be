"""Fuzzing /verba/api with Hypothesis: hostile names and values, control characters, long
values, repeated names, odd encodings, charsets and content types, GET and POST.

Every answer must be a Business API answer: no 5xx but the documented 503 (code 9), and a
body well-formed in its declared type (XML parses with the VerbaApi root, JSON parses,
TEXT and HTML are UTF-8 in their documented shape). The actions come from the registry, so
actions added later are fuzzed too.

Reproducible: the "callportal" Hypothesis profile (conftest.py) draws the same cases on
every run and keeps no example database. MIN_CASES requests per method (FUZZ_CASES in the
environment runs more, or fewer) go through the Django test client.
"""

from __future__ import annotations

import base64
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.test.client import encode_multipart
from hypothesis import given, settings
from hypothesis import strategies as st

from apikeys.services import create_api_key
from calls.tests.factories import CallFactory
from verba.actions import REGISTRY, known_names

pytestmark = pytest.mark.django_db

MIN_CASES = int(os.environ.get("FUZZ_CASES", "1000"))
FUZZ = settings(max_examples=MIN_CASES)

CALL_ID = "87a9902f-83b3-519c-8621-d728e25f58ff"
PASSWORD = "pw-staff-1"
# The contract's parameter names (§5, §7) beyond the transport's, and every name an action
# declares repeatable.
CONTRACT_NAMES = {
    "ccdr_id",
    "cid",
    "platformCallID",
    "nativeID",
    "start",
    "end",
    "anynum",
    "anyname",
    "orderby",
    "order",
    "pagelen",
    "pagefirst",
    "returnMetadata",
    "unmark",
    "format",
    "name",
    "value",
    "time",
}
CHARSETS = ["utf-8", "UTF-8", "iso-8859-1", "cp037", "utf-16", "undefined", "rot13", "hex",
            "idna", "punycode", "no-such-charset", ""]  # fmt: skip
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "application/json",
    "text/plain",
    "application/xml",
    "",
]

# Values that can hold anything: control characters, non-ASCII, XML and URL syntax.
hostile = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("<>&\"'%=+;\x00"),
    max_size=30,
)
long_value = st.builds(
    lambda piece, times: piece * times,
    st.sampled_from(["8", "é", "\x00", "%", "&a=", "<x>"]),
    st.integers(100, 4000),
)
any_value = hostile | long_value
# Header values reach Django as latin-1 text without line breaks.
header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)


@pytest.fixture
def world(staff_user, settings):
    """A key, a key that requires a token, a token, and a call to find."""
    settings.API_THROTTLE = "off"  # throttling would answer most cases before they go deep
    CallFactory(id=CALL_ID, called_number="8856")
    key = create_api_key("Fuzz")[1]
    auth_key = create_api_key("Fuzz with token", requires_auth=True)[1]
    client = Client(raise_request_exception=False)
    token = client.get(
        "/verba/api",
        {"action": "RequestToken", "apiKey": auth_key, "userName": "staff",
         "password": PASSWORD, "responseType": "TEXT"},
    ).content.decode().strip()  # fmt: skip
    assert re.fullmatch(r"[A-Za-z0-9]{32}", token)
    return {"client": client, "key": key, "auth_key": auth_key, "token": token}


def strategies(world: dict) -> dict:
    names = sorted(
        known_names()
        | CONTRACT_NAMES
        | {name for action in REGISTRY.values() for name in action.form.repeatable_names()}
    )
    value_for = {
        "action": st.sampled_from(sorted(REGISTRY)) | any_value,
        "apiKey": st.sampled_from([world["key"], world["key"].upper(), world["auth_key"]])
        | st.uuids().map(str)
        | any_value,
        "token": st.just(world["token"]) | any_value,
        "responseType": st.sampled_from(["XML", "HTML", "TEXT", "JSON", "json", "Html", "PDF"])
        | any_value,
        "callID": st.sampled_from([CALL_ID, CALL_ID.upper()]) | st.uuids().map(str) | any_value,
        "extension": st.just("8856") | any_value,
        "status": st.sampled_from(["last", "ongoing", "ongoing,last", "LAST", "last,last"])
        | any_value,
        "userName": st.just("staff") | any_value,
        "password": st.just(PASSWORD) | any_value,
    }
    # Built once (flatmap would build strategies per draw, and drawing would cost more than
    # the request): a documented name with a value that suits it, or anything.
    pair = st.one_of(
        *(st.tuples(st.just(n), value_for.get(n, any_value)) for n in names),
        st.tuples(hostile, any_value),
    )
    # Mostly a real action and key, so that cases reach the actions; then anything, repeats too.
    base = st.lists(
        st.one_of(
            *(
                st.tuples(st.just(n), value_for[n])
                for n in ("action", "apiKey", "responseType", "callID", "token")
            )
        ),
        max_size=5,
        unique_by=lambda p: p[0],
    )
    params = st.builds(lambda a, b: a + b, base, st.lists(pair, max_size=8))
    headers = st.fixed_dictionaries(
        {},
        optional={
            "X-Api-Key": st.sampled_from([world["key"], world["auth_key"]]) | header_value,
            "X-Api-Token": st.just(world["token"]) | header_value,
            "Authorization": st.builds(
                lambda user, password: (
                    "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                ),
                st.just("staff") | hostile,
                st.just(PASSWORD) | hostile,
            )
            | header_value,
            "Content-Type": st.builds(
                lambda kind, charset: f"{kind}; charset={charset}" if charset else kind,
                st.sampled_from(CONTENT_TYPES),
                st.sampled_from(CHARSETS),
            )
            | header_value,
        },
    )
    return {"params": params, "headers": headers}


def query_string(pairs: list[tuple[str, str]], encoding: str, junk: str) -> str:
    """Percent-encoded in `encoding` (UTF-8 unless a client got it wrong), plus junk."""
    encoded = urlencode(pairs, encoding=encoding, errors="replace", quote_via=quote)
    return f"{encoded}{junk}"


junk = st.sampled_from(["", "&", "&&", "%", "%zz", "%FF%FE", "=&=", ";x=1", "+", "&action"])
encodings = st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"])


# --- what every answer must be ---------------------------------------------------------------


class _Balance(HTMLParser):
    VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def answer_code(response) -> int | None:
    """The body's result code, after checking it is well-formed in its declared type;
    None for media (an action's own content type)."""
    content_type = response["Content-Type"]
    body = response.content
    if content_type == "text/xml; charset=UTF-8":
        root = ET.fromstring(body)  # noqa: S314 - our own response
        assert root.tag == "VerbaApi"
        answer = root.find("Response")
        assert answer is not None, body
        return int(answer.get("code", ""))
    if content_type == "application/json":
        return json.loads(body.decode("utf-8"))["code"]
    if content_type == "text/plain; charset=UTF-8":
        text = body.decode("utf-8")
        assert text.endswith("\n")
        error = re.match(r"ERROR (\d+): ", text)
        return int(error[1]) if error else 0
    if content_type == "text/html; charset=UTF-8":
        text = body.decode("utf-8")
        assert text.startswith("<!DOCTYPE html>\n") and '<meta charset="utf-8">' in text
        balance = _Balance()
        balance.feed(text)
        balance.close()
        assert balance.open == [], f"unclosed {balance.open}"
        found = re.search(r'<span class="code">(\d+)</span>', text)
        assert found, text
        return int(found[1])
    assert not content_type.startswith(("text/", "application/json")), content_type
    return None


def check(response) -> None:
    status = response.status_code
    assert status < 500 or status == 503, status
    code = answer_code(response)
    if code is not None:
        assert (code == 9) == (status == 503), (code, status)
        assert (code == 7) == (status == 429), (code, status)
    assert response["Cache-Control"] == "no-store"


# --- the fuzz --------------------------------------------------------------------------------


def test_fuzzed_get_requests_get_well_formed_answers(world):
    client, cases = world["client"], []
    shapes = strategies(world)

    @FUZZ
    @given(shapes["params"], shapes["headers"], encodings, junk)
    def get(pairs, headers, encoding, tail):
        response = client.generic(
            "GET", "/verba/api?" + query_string(pairs, encoding, tail), headers=headers
        )
        check(response)
        cases.append(response.status_code)

    get()
    print(f"GET /verba/api: {len(cases)} cases")
    assert len(cases) >= MIN_CASES


def _body(kind: str, pairs: list[tuple[str, str]], encoding: str) -> tuple[bytes, str]:
    if kind == "form":
        return query_string(pairs, encoding, "").encode(
            "ascii"
        ), "application/x-www-form-urlencoded"
    if kind == "multipart":
        fields: dict[str, list[str]] = {}
        for name, value in pairs:
            fields.setdefault(name, []).append(value)
        return encode_multipart("BoUnDaRy", fields), "multipart/form-data; boundary=BoUnDaRy"
    if kind == "json":
        return json.dumps(dict(pairs)).encode(), "application/json"
    return "&".join(f"{n}={v}" for n, v in pairs).encode(encoding, "replace"), "text/plain"


def test_fuzzed_post_requests_get_well_formed_answers(world):
    client, cases = world["client"], []
    shapes = strategies(world)

    @FUZZ
    @given(
        shapes["params"],
        shapes["params"],
        shapes["headers"],
        st.sampled_from(["form", "form", "multipart", "json", "raw"]),
        encodings,
        st.sampled_from(CHARSETS) | st.none(),
    )
    def post(query, pairs, headers, kind, encoding, charset):
        body, content_type = _body(kind, pairs, encoding)
        content_type = headers.pop("Content-Type", content_type)
        if charset is not None:
            content_type = f"{content_type}; charset={charset}"
        response = client.generic(
            "POST",
            "/verba/api?" + query_string(query, "utf-8", ""),
            body,
            content_type=content_type,
            headers=headers,
        )
        check(response)
        cases.append(response.status_code)

    post()
    print(f"POST /verba/api: {len(cases)} cases")
    assert len(cases) >= MIN_CASES
