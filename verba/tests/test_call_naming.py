"""Naming a call (contract §7.0, §7.13): callID and its aliases, platformCallID, nativeID,
extension + status, their precedence, and what each action accepts.

The rules live in verba/actions/lookup.py and every call action shares them; a probe action
registered for a test answers the GUID of the call its request names, through the full HTTP
stack, for any naming an action may declare.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.tests.factories import CallFactory
from verba.actions import REGISTRY, Action, Context
from verba.actions.lookup import (
    BY_ANY,
    BY_ID,
    BY_ID_OR_EXTENSION,
    CallNaming,
    NamingForm,
    find_call,
    names_a_call,
)
from verba.answers import Answer, Value
from verba.forms import ActionForm
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db


def _code(response) -> int:
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def _message(response) -> str:
    return response.content.decode().split("<ErrorMessage>", 1)[1].split("<", 1)[0]


def _call_id(response) -> str:
    assert _code(response) == 0, response.content
    return response.content.decode().split("<CallID>", 1)[1].split("<", 1)[0]


@pytest.fixture
def probe(api, key):
    """probe(naming)(**params): ask a throw-away action that names a call with `naming`."""
    names: list[str] = []

    def make(naming: CallNaming):
        class ProbeForm(ActionForm):
            call = names_a_call(naming)

        class Probe(Action):
            name = f"NamingProbe{len(names)}"
            form = ProbeForm

            def run(self, context: Context) -> Answer:
                call = find_call(
                    context.form_as(ProbeForm).call,
                    arrived_at=context.arrived_at,
                    doing="probe the call",
                    scope=context.scope,
                )
                return Answer(type=self.name, values=(Value("CallID", "callID", str(call.pk)),))

        REGISTRY[Probe.name] = Probe()
        names.append(Probe.name)
        return lambda **params: api(action=Probe.name, apiKey=key, **params)

    yield make
    for name in names:
        del REGISTRY[name]


@pytest.fixture
def get_call_id(api, key):
    return lambda **params: api(action="GetCallID", apiKey=key, **params)


def _finished(number="8856", ended_minutes_ago=10, **kwargs):
    ended = timezone.now() - timedelta(minutes=ended_minutes_ago)
    return CallFactory(
        called_number=number, started_at=ended - timedelta(minutes=5), ended_at=ended, **kwargs
    )


# --- callID and its aliases --------------------------------------------------------------


@pytest.mark.parametrize("name", ["callID", "ccdr_id", "cid"])
def test_call_id_and_its_aliases_name_the_call(probe, name):
    call = _finished()
    assert _call_id(probe(BY_ID)(**{name: str(call.pk).upper()})) == str(call.pk)


@pytest.mark.parametrize(("first", "second"), [("callID", "cid"), ("ccdr_id", "cid")])
def test_two_of_the_call_id_names_are_code_1(probe, first, second):
    call = _finished()
    response = probe(BY_ID)(**{first: str(call.pk), second: str(call.pk)})
    assert _code(response) == 1
    assert _message(response) == "Give the call's ID once, as one of callID, ccdr_id or cid."


def test_a_malformed_alias_is_code_1_naming_it(probe):
    response = probe(BY_ID)(cid="not-a-guid")
    assert _code(response) == 1
    assert _message(response) == "The cid parameter must be a call GUID."


def test_an_unknown_call_id_is_code_2(probe):
    assert _code(probe(BY_ID)(ccdr_id=str(uuid.uuid4()))) == 2


def test_nothing_that_names_a_call_is_code_1_listing_the_accepted_forms(probe):
    assert _message(probe(BY_ID)()) == "Give callID (or ccdr_id or cid) to name the call."
    assert _message(probe(BY_ANY)(status="last")) == (
        "Give callID (or ccdr_id or cid), platformCallID, nativeID or extension and status "
        "to name the call."
    )


# --- exact ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field"), [("platformCallID", "platform_call_id"), ("nativeID", "native_id")]
)
def test_exact_ids_match_exactly_and_case_sensitively(get_call_id, name, field):
    call = _finished(**{field: "AbC-1@pbx"})
    assert _call_id(get_call_id(**{name: "AbC-1@pbx"})) == str(call.pk)
    assert _code(get_call_id(**{name: "abc-1@pbx"})) == 2
    assert _code(get_call_id(**{name: "AbC-1"})) == 2


@pytest.mark.parametrize(
    ("name", "field"), [("platformCallID", "platform_call_id"), ("nativeID", "native_id")]
)
def test_an_exact_id_shared_by_two_calls_is_code_3(get_call_id, name, field):
    _finished(**{field: "shared"})
    _finished(**{field: "shared"})
    response = get_call_id(**{name: "shared"})
    assert _code(response) == 3
    assert _message(response) == (
        "Unable to retrieve the call identifier, because more than one call matches."
    )


@pytest.mark.parametrize("value", ["a\x00b", "tab\there", "x" * 256])
def test_an_exact_id_with_control_characters_or_too_long_is_code_1(get_call_id, value):
    response = get_call_id(nativeID=value)
    assert _code(response) == 1
    assert "nativeID" in _message(response)


# --- precedence --------------------------------------------------------------------------


def test_call_id_wins_over_every_other_form(probe):
    named = _finished()
    _finished(platform_call_id="p", native_id="n")
    response = probe(BY_ANY)(
        cid=str(named.pk), platformCallID="p", nativeID="n", extension="8856", status="last"
    )
    assert _call_id(response) == str(named.pk)


def test_platform_call_id_wins_over_native_id_and_extension(get_call_id):
    by_platform = _finished(platform_call_id="p", ended_minutes_ago=30)
    _finished(native_id="n")
    response = get_call_id(platformCallID="p", nativeID="n", extension="8856", status="last")
    assert _call_id(response) == str(by_platform.pk)


def test_native_id_wins_over_extension(get_call_id):
    by_native = _finished(native_id="n", ended_minutes_ago=30)
    _finished()
    assert _call_id(get_call_id(nativeID="n", extension="8856", status="last")) == str(by_native.pk)


def test_a_form_that_wins_is_judged_alone_even_when_the_others_are_malformed(get_call_id):
    call = _finished(platform_call_id="p")
    response = get_call_id(platformCallID="p", nativeID="x" * 300, status="bogus")
    assert _call_id(response) == str(call.pk)


def test_get_call_id_ignores_call_id_and_so_may_name_nothing(get_call_id):
    call = _finished()
    response = get_call_id(callID=str(call.pk))
    assert _code(response) == 1
    assert _message(response) == (
        "Give platformCallID, nativeID or extension and status to name the call."
    )


def test_an_action_that_does_not_list_a_form_ignores_it(probe):
    _finished(native_id="n")
    response = probe(BY_ID_OR_EXTENSION)(nativeID="n")
    assert _code(response) == 1
    assert _message(response) == (
        "Give callID (or ccdr_id or cid) or extension and status to name the call."
    )


# --- extension + status ------------------------------------------------------------------


def test_extension_and_status_name_the_last_call(get_call_id):
    _finished(ended_minutes_ago=20)
    latest = _finished(ended_minutes_ago=5)
    assert _call_id(get_call_id(extension=" 8856 ", status="LAST")) == str(latest.pk)


def test_extension_without_status_is_code_1(get_call_id):
    assert _message(get_call_id(extension="8856")) == (
        "The status parameter is required with extension."
    )


def test_next_is_code_1_where_the_action_does_not_allow_it(probe):
    _finished()
    no_next = probe(CallNaming(NamingForm.CALL_ID | NamingForm.EXTENSION_STATUS, allow_next=False))
    response = no_next(extension="8856", status="last,next")
    assert _code(response) == 1
    assert "does not wait for the next call" in _message(response)
    assert _code(no_next(extension="8856", status="last")) == 0


def test_next_waits_where_it_is_allowed(get_call_id, settings):
    # A window of zero: nothing starts within it, so the answer is "not found", not code 1.
    settings.NEXT_WINDOW_SECONDS = 0
    assert _code(get_call_id(extension="8856", status="next")) == 2


def test_ongoing_then_last_in_the_order_given(get_call_id):
    _finished()
    ongoing = CallFactory(
        called_number="8856", started_at=timezone.now() - timedelta(minutes=1), ended_at=None
    )
    assert _call_id(get_call_id(extension="8856", status="ongoing,last")) == str(ongoing.pk)


# --- GetCallID's answer ------------------------------------------------------------------


def test_get_call_id_answers_the_guid_in_every_format(get_call_id):
    call = _finished(native_id="n-1")
    assert get_call_id(nativeID="n-1", responseType="TEXT").content == f"{call.pk}\n".encode()
    assert get_call_id(nativeID="n-1", responseType="JSON").json() == {
        "code": 0,
        "type": "GetCallID",
        "timeZone": "UTC",
        "callID": str(call.pk),
    }
    html = get_call_id(nativeID="n-1", responseType="HTML").content.decode()
    assert "<title>GetCallID" in html
    assert f"<dd>{call.pk}</dd>" in html


def test_get_call_id_not_found_uses_verbas_wording(get_call_id):
    response = get_call_id(platformCallID="nope", responseType="TEXT")
    assert response.content == (
        b"ERROR 2: Unable to retrieve the call identifier, because the call cannot be found.\n"
    )


def test_get_call_id_xml_is_golden(get_call_id):
    _finished(id=uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb"), platform_call_id="p-1")
    assert get_call_id(platformCallID="p-1").content == golden("get_call_id_success.xml")


def test_get_call_id_not_found_xml_is_golden(get_call_id):
    assert get_call_id(nativeID="nope").content == golden("get_call_id_not_found.xml")


def test_get_call_id_naming_nothing_xml_is_golden(get_call_id):
    assert get_call_id(cid=str(uuid.uuid4())).content == golden("get_call_id_nothing_named.xml")
