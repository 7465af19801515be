"""GetMarkers through the HTTP stack (contract §7.7, §7.13): a call's closed markers in all
four formats."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.services import create_api_key
from audit.models import ApiRequest
from calls.models import Marker
from calls.tests.factories import CallFactory
from verba.tests.change_helpers import code_of, message_of, request_token
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"
BY_ID_ONLY = "Give callID (or ccdr_id or cid) to name the call."
ONCE = "Give the call's ID once, as one of callID, ccdr_id or cid."
NOT_FOUND = "Unable to retrieve the markers, because the call cannot be found."


@pytest.fixture
def call():
    start = timezone.now() - timedelta(hours=1)
    return CallFactory(
        id=CALL_ID,
        called_number="8856",
        started_at=start,
        ended_at=start + timedelta(seconds=100),
    )


@pytest.fixture
def marked(call):
    """Three closed markers stored out of order (two starting together), and an open one."""
    for name, start, end in [
        ("Sale", 16_700, 65_400),
        ("Hold & <wait>", 0, 5_000),
        ("Greeting", 0, 0),
        ("Open", 70_000, None),
    ]:
        Marker.objects.create(call=call, name=name, start_ms=start, end_ms=end)
    return call


@pytest.fixture
def get(api, key):
    def send(**params):
        return api(action="GetMarkers", apiKey=key, **params)

    return send


def test_closed_markers_are_listed_by_start_then_name_in_verbas_shape(get, marked):
    response = get(callID=CALL_ID)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert response.content == golden("get_markers_success.xml")
    assert str(ApiRequest.objects.get().call_id) == CALL_ID


def test_a_call_without_markers_answers_a_self_closing_response(get, call):
    Marker.objects.create(call=call, name="Open", start_ms=1_000, end_ms=None)

    assert get(callID=CALL_ID).content == golden("get_markers_none.xml")


def test_text_is_one_tab_separated_line_per_marker(get, marked):
    response = get(callID=CALL_ID, responseType="TEXT")

    assert response.content.decode() == (
        "Greeting\t0\t0\nHold & <wait>\t0\t5000\nSale\t16700\t65400\n"
    )


def test_json_lists_markers_with_numbers_in_milliseconds(get, marked):
    response = get(callID=CALL_ID, responseType="JSON")

    assert json.loads(response.content) == {
        "code": 0,
        "type": "GetMarkers",
        "timeZone": "UTC",
        "markers": [
            {"name": "Greeting", "start": 0, "end": 0},
            {"name": "Hold & <wait>", "start": 0, "end": 5000},
            {"name": "Sale", "start": 16700, "end": 65400},
        ],
    }


def test_json_without_markers_is_an_empty_list_and_text_is_empty(get, call):
    assert json.loads(get(callID=CALL_ID, responseType="JSON").content)["markers"] == []
    assert get(callID=CALL_ID, responseType="TEXT").content == b""


def test_html_is_a_table_row_per_marker_escaped(get, marked):
    html = get(callID=CALL_ID, responseType="HTML").content.decode()

    assert "<title>GetMarkers – Verba Business API</title>" in html
    assert '<th scope="col">name</th><th scope="col">start</th><th scope="col">end</th>' in html
    assert "<tr><td>Hold &amp; &lt;wait&gt;</td><td>0</td><td>5000</td></tr>" in html
    assert html.count("<tr><td>") == 3


@pytest.mark.parametrize("alias", ["ccdr_id", "cid"])
def test_the_call_may_be_named_by_an_alias_of_call_id(get, marked, alias):
    assert code_of(get(**{alias: CALL_ID})) == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        # Only callID and its aliases name a call here.
        ({"extension": "8856", "status": "last"}, BY_ID_ONLY),
        ({"nativeID": "REC-1"}, BY_ID_ONLY),
        ({"callID": "a8343631"}, "The callID parameter must be a call GUID."),
        ({"callID": CALL_ID, "cid": CALL_ID}, ONCE),
    ],
)
def test_a_missing_or_malformed_call_name_is_code_1(get, call, params, message):
    response = get(**params)

    assert (code_of(response), message_of(response)) == (1, message)


def test_an_unknown_call_is_code_2(get):
    response = get(callID=CALL_ID)

    assert code_of(response) == 2
    assert (
        message_of(response) == "Unable to retrieve the markers, because the call cannot be found."
    )


def test_a_key_that_may_only_change_calls_is_denied(api, change_key, marked):
    response = api(action="GetMarkers", apiKey=change_key, callID=CALL_ID)

    assert code_of(response) == 6
    assert message_of(response) == "Access denied: this API key may not query the Business API."


def test_a_token_user_needs_view_call_only(api, marked, staff_user):
    key = create_api_key("CRM with users", requires_auth=True)[1]
    token = request_token(api, key)

    allowed = api(action="GetMarkers", apiKey=key, token=token, callID=CALL_ID)
    staff_user.user_permissions.clear()
    denied = api(action="GetMarkers", apiKey=key, token=token, callID=CALL_ID)

    assert (code_of(allowed), code_of(denied)) == (0, 6)
