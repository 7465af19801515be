"""SearchCalls (contract §7.3, §7.13) through the HTTP stack: the period, status, number and
name parts, order, pages, metadata, every format, and code 1 for each malformed parameter."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apikeys.services import create_api_key
from calls.models import MetadataField, MetadataValue
from calls.tests.factories import CallFactory
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 26, tzinfo=UTC)
NOW = DAY + timedelta(days=1, hours=12)
PERIOD = {"start": "2026-11-26 00:00", "end": "2026-11-26 23:59"}


@pytest.fixture
def search(api, key):
    def call(**params):
        params = {**PERIOD, **params}
        with time_machine.travel(NOW, tick=False):
            return api(action="SearchCalls", apiKey=key, **params)

    return call


def _call(minute: float, *, length: float = 60, **fields):
    started = DAY + timedelta(hours=10, minutes=minute)
    ended = None if length is None else started + timedelta(seconds=length)
    return CallFactory(started_at=started, ended_at=ended, **fields)


def _ids(response) -> list[str]:
    body = response.json()
    assert body["code"] == 0, body
    return [c["ccdr_id"] for c in body["calls"]]


def _error(response) -> tuple[int, str]:
    body = response.json()
    return body["code"], body.get("errorMessage", "")


# --- golden answers ----------------------------------------------------------------------


def test_a_page_of_two_calls_answers_golden_xml(search):
    CallFactory(
        id=uuid.UUID("11111111-2222-4333-8444-555555555555"),
        caller_number="+442071234567",
        caller_name="Ada Lovelace",
        called_number="8856",
        called_name="Help desk",
        started_at=DAY + timedelta(hours=9, seconds=1, microseconds=500),
        ended_at=DAY + timedelta(hours=9, minutes=12, seconds=3, microseconds=999_999),
        direction="inbound",
        native_id="REC-1",
        platform_call_id="p-1@pbx",
    )
    CallFactory(
        id=uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb"),
        caller_number="8856",
        caller_name="",
        called_number="+13125550100",
        called_name="Grace <Hopper> & co",
        started_at=DAY + timedelta(hours=17, minutes=30),
        ended_at=DAY + timedelta(hours=18, minutes=45, seconds=10),
        direction="outbound",
        native_id="",
        platform_call_id="",
        keep=True,
    )
    response = search(anynum="8856")
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert response.content == golden("search_calls_success.xml")


def test_no_match_is_code_0_with_an_empty_list(search):
    assert search().content == golden("search_calls_empty.xml")


def test_a_missing_start_answers_golden_xml(api, key):
    response = api(action="SearchCalls", apiKey=key, end="2026-11-26 23:59")
    assert response.content == golden("search_calls_start_missing.xml")


# --- the period --------------------------------------------------------------------------


def test_start_is_inclusive_and_end_covers_its_whole_last_minute(search):
    at_start = CallFactory(started_at=DAY + timedelta(hours=10), ended_at=NOW - timedelta(days=1))
    last_ms = CallFactory(started_at=DAY + timedelta(hours=10, minutes=5, seconds=59.999))
    CallFactory(started_at=DAY + timedelta(hours=9, minutes=59, seconds=59.999))
    CallFactory(started_at=DAY + timedelta(hours=10, minutes=6))
    found = _ids(
        search(start="2026-11-26 10:00", end="2026-11-26 10:05", responseType="JSON", order="asc")
    )
    assert found == [str(at_start.pk), str(last_ms.pk)]


@pytest.mark.parametrize(
    ("end", "included"),
    [
        ("2026-11-26 10:05:30", False),
        ("2026-11-26 10:05:31", True),
        ("2026-11-26 10:05:31.499", False),
        ("2026-11-26 10:05:31.500", True),
    ],
)
def test_end_covers_its_last_second_or_millisecond(search, end, included):
    call = CallFactory(started_at=DAY + timedelta(hours=10, minutes=5, seconds=31.5))
    found = _ids(search(start="2026-11-26 10:00", end=end, responseType="JSON"))
    assert (str(call.pk) in found) is included


def test_the_same_moment_as_start_and_end_is_a_valid_period(search):
    call = _call(0)
    found = _ids(search(start="2026-11-26 10:00", end="2026-11-26 10:00", responseType="JSON"))
    assert found == [str(call.pk)]


def test_end_before_start_is_code_1(search):
    response = search(start="2026-11-26 10:00:30", end="2026-11-26 10:00", responseType="JSON")
    assert _error(response) == (1, "The end cannot be before the start.")


@pytest.mark.parametrize("name", ["start", "end"])
@pytest.mark.parametrize(
    "value",
    [
        "2026-11-26",
        "2026-11-26T10:00",
        "2026-11-26 10:00:00.12",
        "2026-11-26 10:00:00Z",
        "2026-11-26 10:00+01:00",
        "2026-13-01 10:00",
        "2026-11-26 24:00",
        "26.11.2026 10:00",
        "２０２６-11-26 10:00",
        "9999-12-31 23:59",
        "now",
    ],
)
def test_a_malformed_time_is_code_1_naming_the_parameter(search, name, value):
    code, message = _error(search(**{name: value}, responseType="JSON"))
    assert code == 1
    assert message == (
        f"The {name} parameter must be YYYY-MM-DD hh:mm, YYYY-MM-DD hh:mm:ss or "
        "YYYY-MM-DD hh:mm:ss.SSS (UTC)."
    )


@pytest.mark.parametrize("name", ["start", "end"])
def test_start_and_end_are_required(api, key, name):
    params = {k: v for k, v in PERIOD.items() if k != name}
    response = api(action="SearchCalls", apiKey=key, responseType="JSON", **params)
    assert _error(response)[0] == 1
    assert f"The {name} parameter is required" in _error(response)[1]


# --- status ------------------------------------------------------------------------------


@pytest.fixture
def states():
    return {
        "finished": _call(1),
        "no_end_yet": CallFactory(started_at=NOW - timedelta(hours=1), ended_at=None),
        "end_to_come": CallFactory(
            started_at=NOW - timedelta(minutes=5), ended_at=NOW + timedelta(minutes=5)
        ),
        "lost_end": CallFactory(started_at=NOW - timedelta(hours=30), ended_at=None),
    }


def test_recorded_is_the_default_and_means_finished(search, states):
    found = _ids(search(start="2026-11-26 00:00", end="2026-11-27 23:59", responseType="JSON"))
    assert found == [str(states["finished"].pk)]


@pytest.mark.parametrize("value", ["ongoing", "ONGOING", " Ongoing "])
def test_ongoing_lists_calls_in_progress_but_not_those_that_lost_their_end(search, states, value):
    response = search(
        start="2026-11-26 00:00", end="2026-11-27 23:59", status=value, responseType="JSON"
    )
    assert set(_ids(response)) == {str(states["no_end_yet"].pk), str(states["end_to_come"].pk)}
    assert {c["state"] for c in response.json()["calls"]} == {0}


@pytest.mark.parametrize("value", ["last", "finished", "recorded,ongoing"])
def test_an_unknown_status_is_code_1(search, value):
    assert _error(search(status=value, responseType="JSON")) == (
        1,
        "The status parameter must be one of recorded, ongoing.",
    )


# --- number and name parts ---------------------------------------------------------------


def test_anynum_matches_a_part_of_the_caller_or_the_called_number(search):
    as_caller = _call(1, caller_number="+442071234567", called_number="7001")
    as_called = _call(2, caller_number="7002", called_number="0044207123")
    _call(3, caller_number="+4420799", called_number="7003")
    found = _ids(search(anynum="207123", responseType="JSON"))
    assert found == [str(as_called.pk), str(as_caller.pk)]


def test_several_anynum_match_any_of_them(search, client, key):
    one = _call(1, caller_number="111", called_number="7001")
    two = _call(2, caller_number="222", called_number="7002")
    _call(3, caller_number="333", called_number="7003")
    with time_machine.travel(NOW, tick=False):
        response = client.get(
            "/verba/api?action=SearchCalls&responseType=JSON"
            f"&apiKey={key}&start=2026-11-26+00:00&end=2026-11-26+23:59"
            "&anynum=111&anynum=222&anynum=&anynum=111"
        )
    assert _ids(response) == [str(two.pk), str(one.pk)]


def test_anyname_matches_a_part_of_either_name_in_any_letter_case(search):
    caller = _call(1, caller_name="Ada LOVELACE", called_name="Desk")
    called = _call(2, caller_name="Bob", called_name="lovelace & sons")
    _call(3, caller_name="Grace", called_name="Desk")
    assert _ids(search(anyname="LoveLace", responseType="JSON")) == [
        str(called.pk),
        str(caller.pk),
    ]


def test_anynum_and_anyname_must_both_match(search, client, key):
    both = _call(1, caller_number="5550001", caller_name="Ada")
    _call(2, caller_number="5550002", caller_name="Bob")
    _call(3, caller_number="9990003", caller_name="Ada")
    with time_machine.travel(NOW, tick=False):
        response = client.get(
            "/verba/api",
            {
                "action": "SearchCalls",
                "apiKey": key,
                "responseType": "JSON",
                **PERIOD,
                "anynum": ["555", "777"],
                "anyname": ["ada", "zed"],
            },
        )
    assert _ids(response) == [str(both.pk)]


def test_a_long_anynum_must_match_whole_not_only_its_end(search):
    # The index is asked for the part's end; the whole part decides.
    match = _call(1, caller_number="7001", called_number="+442071234567")
    _call(2, caller_number="+449991234567", called_number="7002")
    _call(3, caller_number="7003", called_number="1234567")
    assert _ids(search(anynum="+442071234567", responseType="JSON")) == [str(match.pk)]
    assert _ids(search(anynum="2071234567", responseType="JSON")) == [str(match.pk)]


def test_a_long_anynum_with_wildcards_matches_them_literally(search):
    literal = _call(1, caller_number="12%_\\34567")
    _call(2, caller_number="12xy\\34567")
    assert _ids(search(anynum="12%_\\34567", responseType="JSON")) == [str(literal.pk)]


@pytest.mark.parametrize("part", ["%", "_", "\\5"])
def test_like_wildcards_in_a_part_match_themselves(search, part):
    literal = _call(1, caller_number="55%_\\5")
    _call(2, caller_number="5555")
    assert _ids(search(anynum=part, responseType="JSON")) == [str(literal.pk)]


@pytest.mark.parametrize(
    ("name", "value"),
    [("anynum", "x" * 65), ("anynum", "88\x0056"), ("anyname", "a\tb"), ("anyname", "y" * 256)],
)
def test_a_malformed_part_is_code_1(search, name, value):
    code, message = _error(search(**{name: value}, responseType="JSON"))
    assert code == 1
    assert message.startswith(f"The {name} parameter must be 1 to ")


def test_more_than_twenty_parts_is_code_1(search):
    code, message = _error(search(anynum=[str(n) for n in range(21)], responseType="JSON"))
    assert (code, message) == (1, "The anynum parameter may be given at most 20 times.")


def test_other_parameters_stay_unrepeatable(search):
    response = search(pagelen=["1", "2"], responseType="JSON")
    assert _error(response) == (1, "The parameter pagelen is given more than once.")


# --- order -------------------------------------------------------------------------------


@pytest.fixture
def ordered():
    """Three calls whose order differs by each field."""
    return [
        _call(1, length=300, caller_number="300", called_number="C"),
        _call(2, length=100, caller_number="100", called_number="A"),
        _call(3, length=200, caller_number="200", called_number="B"),
    ]


@pytest.mark.parametrize(
    ("orderby", "order", "expected"),
    [
        (None, None, [2, 1, 0]),
        ("start_time", "asc", [0, 1, 2]),
        ("end_time", "desc", [2, 0, 1]),
        ("end_time", "ASC", [1, 0, 2]),
        ("duration", "desc", [0, 2, 1]),
        ("duration", "asc", [1, 2, 0]),
        ("source_caller_id", "asc", [1, 2, 0]),
        ("destination_caller_id", "desc", [0, 2, 1]),
    ],
)
def test_orderby_and_order(search, ordered, orderby, order, expected):
    params = {"responseType": "JSON"}
    if orderby:
        params["orderby"] = orderby
    if order:
        params["order"] = order
    assert _ids(search(**params)) == [str(ordered[i].pk) for i in expected]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_ties_are_ordered_by_ccdr_id(search, order):
    ids = sorted(uuid.uuid4() for _ in range(4))
    for call_id in reversed(ids):
        CallFactory(id=call_id, started_at=DAY + timedelta(hours=10), ended_at=NOW - timedelta(1))
    assert _ids(search(order=order, responseType="JSON")) == [str(i) for i in ids]


@pytest.mark.parametrize("orderby", ["source_caller_id", "destination_caller_id"])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pages_by_a_number_keep_its_ties_in_ccdr_id_order_across_page_edges(search, orderby, order):
    # Five calls on each of three numbers, the other party alike, created out of id order:
    # every page edge below falls inside a run of one number.
    ids = sorted(uuid.uuid4() for _ in range(15))
    column = "caller_number" if orderby == "source_caller_id" else "called_number"
    other = "called_number" if column == "caller_number" else "caller_number"
    numbers = ["2001", "2003", "2002"]
    calls = [
        _call(n, id=call_id, **{column: numbers[n % 3], other: "+13125550100"})
        for n, call_id in enumerate(reversed(ids))
    ]
    # The numbers in the order asked for, their ties by ccdr_id ascending either way.
    expected = [
        str(call.pk)
        for number in sorted(numbers, reverse=order == "desc")
        for call in sorted(calls, key=lambda c: c.pk)
        if getattr(call, column) == number
    ]
    params = {"orderby": orderby, "order": order, "pagelen": "4", "responseType": "JSON"}
    pages = [_ids(search(**params, pagefirst=str(first))) for first in range(0, 16, 4)]
    assert [i for page in pages for i in page] == expected


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_by_end_time_a_call_that_ends_long_after_the_period_is_in_its_place(search, order):
    short = _call(1, length=60)
    # Started in the period, ended the next day (before now): the longest of the period.
    long = _call(2, length=20 * 3600)
    outside = CallFactory(started_at=DAY - timedelta(hours=1), ended_at=DAY + timedelta(hours=5))
    response = search(orderby="end_time", order=order, responseType="JSON")
    expected = [str(long.pk), str(short.pk)] if order == "desc" else [str(short.pk), str(long.pk)]
    assert _ids(response) == expected
    assert str(outside.pk) not in expected


def test_calls_without_an_end_sort_last_by_end_time(search, states):
    response = search(
        start="2026-11-26 00:00",
        end="2026-11-27 23:59",
        status="ongoing",
        orderby="end_time",
        responseType="JSON",
    )
    assert _ids(response) == [str(states["end_to_come"].pk), str(states["no_end_yet"].pk)]


def test_ongoing_by_duration_uses_the_time_so_far(search, states):
    response = search(
        start="2026-11-26 00:00",
        end="2026-11-27 23:59",
        status="ongoing",
        orderby="duration",
        responseType="JSON",
    )
    assert _ids(response) == [str(states["no_end_yet"].pk), str(states["end_to_come"].pk)]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "orderby",
            "START_TIME",
            "The orderby parameter must be one of start_time, end_time, duration, "
            "source_caller_id, destination_caller_id.",
        ),
        ("orderby", "ccdr_id", None),
        ("order", "descending", "The order parameter must be one of asc, desc."),
    ],
)
def test_an_unknown_orderby_or_order_is_code_1(search, name, value, message):
    code, text = _error(search(**{name: value}, responseType="JSON"))
    assert code == 1
    if message:
        assert text == message


# --- pages -------------------------------------------------------------------------------


def test_pagelen_defaults_to_100_and_rowcount_counts_the_page(search):
    for minute in range(105):
        _call(minute / 2)
    response = search()
    assert b'<verbacdrlist rowcount="100">' in response.content
    assert response.content.count(b"<verbacdr ") == 100


def test_pagelen_and_pagefirst_walk_the_list_without_gaps_or_repeats(search):
    calls = [_call(minute) for minute in range(7)]
    newest_first = [str(c.pk) for c in reversed(calls)]
    pages = [
        _ids(search(pagelen="3", pagefirst=str(first), responseType="JSON"))
        for first in (0, 3, 6, 9)
    ]
    assert pages == [newest_first[:3], newest_first[3:6], newest_first[6:], []]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pagelen", "0"),
        ("pagelen", "1001"),
        ("pagelen", "ten"),
        ("pagelen", "-5"),
        ("pagelen", "1e3"),
        ("pagelen", "１０"),
        ("pagefirst", "-1"),
        ("pagefirst", "1.5"),
        ("pagefirst", str(2**31)),
    ],
)
def test_pagelen_outside_1_to_1000_or_a_bad_pagefirst_is_code_1(search, name, value):
    code, message = _error(search(**{name: value}, responseType="JSON"))
    assert code == 1
    assert message.startswith(f"The {name} parameter must be a whole number from ")


def test_pagelen_1000_is_allowed(search):
    _call(1)
    assert len(_ids(search(pagelen="1000", responseType="JSON"))) == 1


# --- formats and metadata ----------------------------------------------------------------


def test_json_lists_the_records_as_calls(search):
    call = _call(1, direction="internal")
    body = search(responseType="JSON").json()
    assert body["code"] == 0 and body["type"] == "SearchCalls"
    (record,) = body["calls"]
    assert record["ccdr_id"] == str(call.pk)
    assert record["state"] == 1 and record["direction_id"] == 0
    assert record["duration"] == "0:01:00"
    assert "metadata" not in record


def test_return_metadata_gives_each_record_its_metadata(search):
    first = _call(1)
    _call(2)
    field = MetadataField.objects.create(identifier="ticket", label="Ticket", api_access=True)
    MetadataValue.objects.create(call=first, field=field, value="T-1")
    body = search(responseType="JSON", returnMetadata="1").json()
    assert [c["metadata"] for c in body["calls"]] == [{}, {"ticket": "T-1"}]
    xml = search(returnMetadata="1").content.decode()
    assert xml.count("<metadata>") == 1
    assert '<metadata>\n<field name="ticket">T-1</field>\n</metadata>\n</verbacdr>' in xml


def test_text_is_one_tab_separated_line_per_call_without_header(search):
    first = _call(1, caller_number="+441", called_number="8856")
    second = _call(2, caller_number="+442", called_number="8857", length=None)
    response = search(responseType="TEXT", status="recorded")
    assert response["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.content.decode() == (
        f"{first.pk}\t2026-11-26 10:01:00.000\t2026-11-26 10:02:00.000\t+441\t8856\n"
    )
    assert second.pk


def test_text_of_no_calls_is_empty(search):
    assert search(responseType="TEXT").content == b""


def test_html_is_a_table_with_one_row_per_call(search):
    _call(1)
    _call(2)
    html = search(responseType="HTML").content.decode()
    assert "<title>SearchCalls – Verba Business API</title>" in html
    assert '<p class="rowcount">2 records</p>' in html
    assert html.count("<tr><td>") == 2


# --- the client flow ---------------------------------------------------------------------


def test_a_token_from_request_token_opens_search_calls(api, staff_user):
    # The public clients' flow: RequestToken with userName/password in the query, then
    # SearchCalls with pagelen=100&returnMetadata=1&start=…&end=….
    _, key = create_api_key("Client", requires_auth=True)
    call = _call(1)
    without = api(action="SearchCalls", apiKey=key, responseType="JSON", **PERIOD)
    assert without.json()["code"] == 5
    token = (
        api(
            action="RequestToken",
            apiKey=key,
            userName="staff",
            password="pw-staff-1",
            responseType="TEXT",
        )
        .content.decode()
        .strip()
    )
    with time_machine.travel(NOW, tick=False):
        response = api(
            action="SearchCalls",
            apiKey=key,
            token=token,
            pagelen="100",
            returnMetadata="1",
            **PERIOD,
        )
    assert b'<verbacdrlist rowcount="1">' in response.content
    assert f"<ccdr_id>{call.pk}</ccdr_id>".encode() in response.content
