"""Fuzzing POST /api/v1/calls with Hypothesis: random JSON shapes, call-shaped bodies with
hostile values, bytes that are not JSON, odd content types and charsets.

Every answer must be JSON with no 5xx but the documented 503. Reproducible through the
"callportal" Hypothesis profile (conftest.py); MIN_CASES requests through the test client.
"""

import json
import os

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.serializers import CallSerializer

pytestmark = pytest.mark.django_db

MIN_CASES = int(os.environ.get("FUZZ_CASES", "1000"))

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
moment = st.datetimes().map(lambda d: d.isoformat()) | st.sampled_from(
    ["2026-11-26T14:03:00Z", "2026-11-26T14:03:00+01:00", "2026-11-26T14:03:00", "now", ""]
)
field_value = {
    "id": st.uuids().map(str) | text,
    "started_at": moment,
    "ended_at": moment | st.none(),
    "direction": st.sampled_from(["inbound", "outbound", "internal", ""]) | text,
    "keep": st.booleans() | text,
    "caller_number": st.sampled_from(["+442071234567", "8856", "8" * 65]) | text,
    "called_number": st.sampled_from(["8856", ""]) | text,
}
call_shaped = st.fixed_dictionaries(
    {},
    optional={
        name: field_value.get(name, text) | json_value
        for name, _ in CallSerializer().fields.items()
    },
)
body = st.one_of(
    call_shaped.map(json.dumps).map(str.encode),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.integers(1, 3000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
    call_shaped.map(lambda v: json.dumps(v).encode()[: len(json.dumps(v)) // 2]),  # cut short
)
content_type = st.sampled_from(
    [
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json; charset=undefined",
        "application/json; charset=rot13",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ]
)


def test_fuzzed_call_posts_get_json_answers(ingest_key):
    client, cases = Client(raise_request_exception=False), []
    key = ingest_key[1]

    @settings(max_examples=MIN_CASES)
    @given(body, content_type, st.sampled_from([key, key, key, key.upper(), "", "not-a-key"]))
    def post(data, kind, api_key):
        response = client.generic(
            "POST", "/api/v1/calls", data, content_type=kind, headers={"X-Api-Key": api_key}
        )
        assert response.status_code < 500 or response.status_code == 503, response.content
        assert response["Content-Type"] == "application/json"
        json.loads(response.content.decode("utf-8"))
        cases.append(response.status_code)

    post()
    print(f"POST /api/v1/calls: {len(cases)} cases")
    assert len(cases) >= MIN_CASES
