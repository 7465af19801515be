"""GetMarkers through the HTTP stack (contract §7.7, §7.13)."""

import json

import pytest

from calls.models import Marker
from calls.tests.factories import CallFactory
from verba.tests.change_helpers import code_of
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"


@pytest.fixture
def call():
    call = CallFactory(id=CALL_ID, called_number="8856")
    Marker.objects.create(call=call, name="Sale", start_ms=16_700, end_ms=65_400)
    return call


def get_markers(api, key, **params):
    return api(action="GetMarkers", apiKey=key, **params)


def test_get_markers_answers_verbas_sample_bytes(api, key, call):
    response = get_markers(api, key, callID=CALL_ID)

    assert response.content == golden("get_markers_success.xml")


def test_markers_are_ordered_by_start_then_name_and_open_ones_are_left_out(api, key, call):
    Marker.objects.create(call=call, name="B & <b>", start_ms=0, end_ms=1_000)
    Marker.objects.create(call=call, name="A", start_ms=0, end_ms=500)
    Marker.objects.create(call=call, name="Open", start_ms=70_000, end_ms=None)

    response = get_markers(api, key, cid=CALL_ID, responseType="TEXT")

    assert response.content == b"A\t0\t500\nB & <b>\t0\t1000\nSale\t16700\t65400\n"
    xml = get_markers(api, key, cid=CALL_ID).content.decode()
    assert "<verbamarker><name>B &amp; &lt;b&gt;</name><start>0</start><end>1000</end>" in xml


def test_get_markers_in_json(api, key, call):
    response = get_markers(api, key, ccdr_id=CALL_ID, responseType="JSON")

    assert json.loads(response.content) == {
        "code": 0,
        "type": "GetMarkers",
        "markers": [{"name": "Sale", "start": 16700, "end": 65400}],
    }


def test_a_call_without_markers_answers_an_empty_response(api, key):
    CallFactory(id=CALL_ID)

    response = get_markers(api, key, callID=CALL_ID)

    assert response.content == golden("get_markers_none.xml")
    assert json.loads(get_markers(api, key, callID=CALL_ID, responseType="JSON").content) == {
        "code": 0,
        "type": "GetMarkers",
        "markers": [],
    }


def test_get_markers_names_the_call_by_id_only(api, key, call):
    response = get_markers(api, key, extension="8856", status="last")

    assert code_of(response) == 1


def test_get_markers_on_an_unknown_call_is_code_2(api, key):
    assert code_of(get_markers(api, key, callID=CALL_ID)) == 2


def test_a_change_only_key_may_not_read_markers(api, change_key, call):
    assert code_of(get_markers(api, change_key, callID=CALL_ID)) == 6
