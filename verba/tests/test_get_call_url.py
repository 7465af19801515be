"""GetCallURL through the HTTP stack (contract §5): callID, extension + status, limits."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


def _code(response) -> int:
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def _url_of(response) -> str:
    return response.content.decode().split("ccdrId=", 1)[1].split("<", 1)[0]


def _ongoing(number="8856", minutes=3, **kwargs):
    started = timezone.now() - timedelta(minutes=minutes)
    return CallFactory(called_number=number, started_at=started, ended_at=None, **kwargs)


def _finished(number="8856", ended_minutes_ago=10, **kwargs):
    ended = timezone.now() - timedelta(minutes=ended_minutes_ago)
    return CallFactory(
        called_number=number, started_at=ended - timedelta(minutes=5), ended_at=ended, **kwargs
    )


@pytest.fixture
def get(api, key):
    def call(**params):
        return api(action="GetCallURL", apiKey=key, **params)

    return call


def test_call_id_finds_the_call(get):
    call = _finished()
    assert _url_of(get(callID=str(call.pk))) == str(call.pk)


def test_call_id_matching_ignores_letter_case(get):
    call = _finished()
    assert _url_of(get(callID=str(call.pk).upper())) == str(call.pk)


@pytest.mark.parametrize("bad", ["nope", "1234", str(uuid.uuid4()).replace("-", ""), "{x}"])
def test_a_malformed_call_id_is_code_1(get, bad):
    assert _code(get(callID=bad)) == 1


def test_an_unknown_call_id_is_code_2(get):
    assert _code(get(callID=str(uuid.uuid4()))) == 2


def test_with_call_id_extension_and_status_are_ignored(get):
    call = _finished()
    response = get(callID=str(call.pk), extension="x" * 100, status="bogus")
    assert _url_of(response) == str(call.pk)


def test_neither_call_id_nor_extension_is_code_1(get):
    assert _code(get(status="last")) == 1


def test_extension_without_status_is_code_1(get):
    _finished()
    assert _code(get(extension="8856")) == 1


@pytest.mark.parametrize(
    "status", ["", "bogus", "last,last", "last,,ongoing", "Last, LAST", "ongoing;last"]
)
def test_a_bad_status_is_code_1(get, status):
    _finished()
    response = get(extension="8856", status=status) if status else get(extension="8856", status="")
    assert _code(response) == 1


def test_next_is_a_valid_status_value(get, settings):
    # Only the parameter check here; the long poll itself is tested with its module.
    settings.NEXT_WINDOW_SECONDS = 0.2
    assert _code(get(extension="8856", status="NEXT")) == 2


@pytest.mark.parametrize("extension", ["x" * 65, "   "])
def test_an_extension_outside_1_to_64_characters_is_code_1(get, extension):
    assert _code(get(extension=extension, status="last")) == 1


def test_the_extension_is_trimmed_and_matched_exactly(get):
    call = _finished(number="8856")
    _finished(number="88567")
    assert _url_of(get(extension="  8856 ", status="last")) == str(call.pk)
    assert _code(get(extension="885", status="last")) == 2


def test_the_extension_matches_the_caller_as_well_as_the_called_party(get):
    call = CallFactory(caller_number="4711", called_number="999")
    assert _url_of(get(extension="4711", status="last")) == str(call.pk)


def test_last_is_the_finished_call_with_the_latest_end(get):
    _finished(ended_minutes_ago=30)
    latest = _finished(ended_minutes_ago=5)
    _finished(ended_minutes_ago=20)
    _ongoing()
    assert _url_of(get(extension="8856", status="last")) == str(latest.pk)


def test_last_merges_caller_and_called_sides(get):
    ended = timezone.now() - timedelta(minutes=1)
    as_caller = CallFactory(
        caller_number="8856",
        called_number="1",
        started_at=ended - timedelta(minutes=1),
        ended_at=ended,
    )
    _finished(ended_minutes_ago=5)
    assert _url_of(get(extension="8856", status="last")) == str(as_caller.pk)


def test_two_calls_ending_at_the_same_moment_are_code_3_for_last(get):
    ended = timezone.now() - timedelta(minutes=2)
    CallFactory(called_number="8856", started_at=ended - timedelta(minutes=1), ended_at=ended)
    CallFactory(
        caller_number="8856",
        called_number="1",
        started_at=ended - timedelta(minutes=3),
        ended_at=ended,
    )
    response = get(extension="8856", status="last")
    assert _code(response) == 3
    assert b"more than one call matches" in response.content


def test_a_call_to_oneself_is_not_ambiguous(get):
    call = CallFactory(caller_number="8856", called_number="8856")
    assert _url_of(get(extension="8856", status="last")) == str(call.pk)
    ongoing = _ongoing(caller_number="8856")
    assert _url_of(get(extension="8856", status="ongoing")) == str(ongoing.pk)


def test_a_call_ending_in_the_future_is_not_last(get):
    CallFactory(
        called_number="8856",
        started_at=timezone.now(),
        ended_at=timezone.now() + timedelta(minutes=5),
    )
    assert _code(get(extension="8856", status="last")) == 2


def test_a_started_call_whose_end_is_still_in_the_future_is_ongoing(get):
    now = timezone.now()
    call = CallFactory(
        called_number="8856",
        started_at=now - timedelta(minutes=2),
        ended_at=now + timedelta(minutes=5),
    )
    assert _url_of(get(extension="8856", status="ongoing")) == str(call.pk)
    assert _code(get(extension="8856", status="last")) == 2
    with time_machine.travel(now + timedelta(minutes=6)):
        assert _code(get(extension="8856", status="ongoing")) == 2
        assert _url_of(get(extension="8856", status="last")) == str(call.pk)


def test_a_call_ending_this_very_moment_is_last_not_ongoing(get):
    now = timezone.now()
    call = CallFactory(called_number="8856", started_at=now - timedelta(minutes=2), ended_at=now)
    with time_machine.travel(now, tick=False):
        assert _code(get(extension="8856", status="ongoing")) == 2
        assert _url_of(get(extension="8856", status="last")) == str(call.pk)


def test_a_known_future_end_keeps_a_long_call_ongoing_past_the_maximum(get, settings):
    # The maximum guards against a lost "call ended" event; a call with an end has none lost.
    settings.MAX_CALL_LENGTH_HOURS = 2
    now = timezone.now()
    call = CallFactory(
        caller_number="8856",
        started_at=now - timedelta(hours=3),
        ended_at=now + timedelta(minutes=1),
    )
    assert _url_of(get(extension="8856", status="ongoing")) == str(call.pk)


def test_a_call_with_a_future_end_is_ambiguous_with_one_without_an_end(get):
    now = timezone.now()
    CallFactory(
        called_number="8856",
        started_at=now - timedelta(minutes=1),
        ended_at=now + timedelta(hours=1),
    )
    _ongoing()
    assert _code(get(extension="8856", status="ongoing")) == 3


def test_ongoing_finds_the_call_in_progress(get):
    _finished()
    call = _ongoing()
    assert _url_of(get(extension="8856", status="ongoing")) == str(call.pk)


def test_two_calls_in_progress_are_code_3(get):
    _ongoing()
    _ongoing(caller_number="8856", number="1")
    assert _code(get(extension="8856", status="ongoing")) == 3


def test_a_call_that_has_not_started_yet_is_not_ongoing(get):
    CallFactory(
        called_number="8856", started_at=timezone.now() + timedelta(minutes=1), ended_at=None
    )
    assert _code(get(extension="8856", status="ongoing")) == 2


def test_a_call_without_an_end_for_longer_than_the_maximum_is_no_longer_ongoing(get, settings):
    settings.MAX_CALL_LENGTH_HOURS = 2
    _ongoing(minutes=121)
    assert _code(get(extension="8856", status="ongoing")) == 2
    call = _ongoing(minutes=119)
    assert _url_of(get(extension="8856", status="ongoing")) == str(call.pk)


def test_the_default_maximum_call_length_is_24_hours(get):
    call = _ongoing(minutes=23 * 60)
    assert _url_of(get(extension="8856", status="ongoing")) == str(call.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert _code(get(extension="8856", status="ongoing")) == 2


def test_statuses_are_tried_in_the_order_given(get):
    finished = _finished()
    ongoing = _ongoing()
    assert _url_of(get(extension="8856", status="ongoing,last")) == str(ongoing.pk)
    assert _url_of(get(extension="8856", status="last, ongoing")) == str(finished.pk)


def test_the_next_status_is_tried_when_the_first_finds_nothing(get):
    finished = _finished()
    assert _url_of(get(extension="8856", status="ONGOING , Last")) == str(finished.pk)


def test_an_ambiguous_status_answers_3_at_once_without_trying_the_next(get):
    _ongoing()
    _ongoing(caller_number="8856", number="1")
    _finished()
    assert _code(get(extension="8856", status="ongoing,last")) == 3


def test_nothing_found_by_any_status_is_code_2(get):
    _finished(number="1234")
    assert _code(get(extension="8856", status="ongoing,last")) == 2


def test_the_url_uses_the_public_url_setting(get, settings):
    settings.PUBLIC_URL = "https://recordings.example.net/portal"
    call = _finished()
    response = get(callID=str(call.pk), responseType="TEXT")
    assert response.content == (
        f"https://recordings.example.net/portal/verba/gwtCallDetail.do?ccdrId={call.pk}\n".encode()
    )


def test_the_returned_url_opens_the_call_page(get, client, staff_user):
    call = _finished()
    url = get(callID=str(call.pk), responseType="TEXT").content.decode().strip()
    client.force_login(staff_user)
    page = client.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200


def _call_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if "calls_call" in q["sql"]]


@pytest.mark.parametrize("status", ["ongoing", "last", "ongoing,last", "last,ongoing"])
def test_the_lookup_is_one_query(get, status):
    for _ in range(3):
        _finished()
        _finished(number="1", caller_number="8856")
    _ongoing()
    with CaptureQueriesContext(connection) as queries:
        assert _code(get(extension="8856", status=status)) == 0
    assert len(_call_queries(queries)) == 1


def test_a_call_id_lookup_is_one_query(get):
    call = _finished()
    with CaptureQueriesContext(connection) as queries:
        assert _url_of(get(callID=str(call.pk))) == str(call.pk)
    assert len(_call_queries(queries)) == 1


def test_last_never_asks_for_caller_or_called_with_an_order_by(get):
    _finished()
    with CaptureQueriesContext(connection) as queries:
        get(extension="8856", status="last")
    for sql in _call_queries(queries):
        assert not (" OR " in sql and "ORDER BY" in sql)


def test_the_longest_lookup_ongoing_then_last_takes_one_query(get):
    _finished()
    with CaptureQueriesContext(connection) as queries:
        assert _code(get(extension="8856", status="ongoing,last")) == 0
    assert len(_call_queries(queries)) == 1


@pytest.mark.parametrize("lookup", ["callID", "ongoing,last"])
def test_the_lookup_reads_no_more_of_the_call_than_the_link_needs(get, lookup, settings):
    settings.DB_PREPARED_STATEMENTS = False  # the statements' text is logged each time
    call = _finished()
    asked = (
        {"callID": str(call.pk)} if lookup == "callID" else {"extension": "8856", "status": lookup}
    )
    with CaptureQueriesContext(connection) as queries:
        assert _url_of(get(**asked)) == str(call.pk)
    sent = _call_queries(queries)
    assert sent
    for sql in sent:
        assert '"caller_name"' not in sql
        assert '"recording"' not in sql


@pytest.mark.parametrize("lookup", ["callID", "extension"])
def test_a_request_s_parameters_are_read_once_for_the_read_ahead_and_the_answer(
    get, monkeypatch, lookup
):
    # The read-ahead (sent with the key's lookup) and the handler share one reading of the
    # request's parameters: the GUID, or the extension and its statuses, are parsed once.
    from calls import rules
    from verba.actions import lookup as lookups

    call = _finished()
    parsed: list[str] = []
    guid, statuses = rules.guid, lookups.parse_statuses
    monkeypatch.setattr(rules, "guid", lambda raw: parsed.append(raw) or guid(raw))
    monkeypatch.setattr(
        lookups, "parse_statuses", lambda raw, **kw: parsed.append(raw) or statuses(raw, **kw)
    )
    asked = (
        {"callID": str(call.pk)} if lookup == "callID" else {"extension": "8856", "status": "last"}
    )

    with CaptureQueriesContext(connection) as queries:
        assert _url_of(get(**asked)) == str(call.pk)

    assert len(parsed) == 1
    assert len(_call_queries(queries)) == 1
