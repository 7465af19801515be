"""AddMarker through the HTTP stack (contract §7.7, §7.13)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import ApiRequest
from calls.models import Marker
from calls.tests.factories import CallFactory
from verba.tests.change_helpers import code_of, message_of
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"


@pytest.fixture
def call():
    # A finished call of 100 seconds.
    start = timezone.now() - timedelta(hours=1)
    return CallFactory(id=CALL_ID, started_at=start, ended_at=start + timedelta(seconds=100))


@pytest.fixture
def add(api, change_key):
    def send(**params):
        return api(action="AddMarker", apiKey=change_key, **params)

    return send


def markers() -> list[tuple[str, int, int | None]]:
    return list(Marker.objects.order_by("start_ms").values_list("name", "start_ms", "end_ms"))


def test_a_segment_in_seconds_is_stored_in_milliseconds(add, call):
    response = add(callID=CALL_ID, mname="Sale", mmode="segment", mstart="16.7", mend="65.4")

    assert response.content == golden("add_marker_success.xml")
    assert markers() == [("Sale", 16_700, 65_400)]
    assert ApiRequest.objects.get().change == "marker Sale added: 16700–65400 ms"


def test_without_mmode_mstart_and_mend_mean_a_segment(add, call):
    assert code_of(add(callID=CALL_ID, mname="Sale", mstart="1", mend="2")) == 0
    assert markers() == [("Sale", 1_000, 2_000)]


@pytest.mark.parametrize(
    ("start", "end", "stored"),
    [("0.0004", "0.0015", (0, 2)), ("1.2345", "99.9995", (1_235, 100_000))],
)
def test_seconds_are_rounded_to_the_nearest_millisecond(add, call, start, end, stored):
    assert code_of(add(callID=CALL_ID, mname="M", mstart=start, mend=end)) == 0
    assert markers() == [("M", *stored)]


@pytest.mark.parametrize(
    ("params", "in_message"),
    [
        ({"mstart": "1", "mend": "2"}, "mname"),
        ({"mname": "x" * 65, "mstart": "1", "mend": "2"}, "mname"),
        ({"mname": "M"}, "mmode"),
        ({"mname": "M", "mmode": "pause"}, "mmode"),
        ({"mname": "M", "mmode": "segment", "mstart": "1"}, "mstart and mend"),
        ({"mname": "M", "mmode": "start", "mstart": "1"}, "mstart"),
        ({"mname": "M", "mstart": "-1", "mend": "2"}, "mstart"),
        ({"mname": "M", "mstart": "1e3", "mend": "2000"}, "mstart"),
        ({"mname": "M", "mstart": "1", "mend": "２"}, "mend"),
        ({"mname": "M", "mstart": "1", "mend": "nan"}, "mend"),
        ({"mname": "M", "mstart": "5", "mend": "5"}, "end after"),
        ({"mname": "M", "mstart": "50", "mend": "100.001"}, "within the call"),
        ({"mname": "M", "mmode": "start"}, "in progress"),
        ({"mname": "M", "mmode": "end"}, "no open marker"),
    ],
)
def test_bad_marker_parameters_are_code_1_and_add_nothing(add, call, params, in_message):
    response = add(callID=CALL_ID, **params)

    assert code_of(response) == 1
    assert in_message in message_of(response)
    assert markers() == []


def test_overlapping_markers_are_refused_touching_ones_are_not(add, call):
    add(callID=CALL_ID, mname="A", mstart="10", mend="20")

    overlapping = add(callID=CALL_ID, mname="B", mstart="19.999", mend="30")
    touching = add(callID=CALL_ID, mname="B", mstart="20", mend="30")

    assert code_of(overlapping) == 1
    assert message_of(overlapping) == "The marker would overlap another marker of the call."
    assert code_of(touching) == 0
    assert markers() == [("A", 10_000, 20_000), ("B", 20_000, 30_000)]


def test_names_are_unique_per_call_case_sensitively(add, call):
    add(callID=CALL_ID, mname="Sale", mstart="0", mend="1")

    assert code_of(add(callID=CALL_ID, mname="Sale", mstart="5", mend="6")) == 1
    assert code_of(add(callID=CALL_ID, mname="sale", mstart="5", mend="6")) == 0


def test_start_and_end_mark_a_call_in_progress_by_extension(add):
    live = CallFactory(
        called_number="8856", started_at=timezone.now() - timedelta(seconds=20), ended_at=None
    )

    opened = add(extension="8856", status="ongoing", mname="Hold", mmode="START")
    closed = add(extension="8856", status="ongoing", mname="Hold", mmode="end")

    assert (code_of(opened), code_of(closed)) == (0, 0)
    ((name, start, end),) = markers()
    assert name == "Hold" and 19_000 <= start <= end
    assert Marker.objects.get().call_id == live.pk


def test_an_unknown_call_is_code_2(add):
    response = add(callID=CALL_ID, mname="Sale", mstart="0", mend="1")

    assert code_of(response) == 2
    assert message_of(response) == "Unable to add the marker, because the call cannot be found."


def test_a_token_user_needs_change_call(api, token_change_key, call, staff_user):
    from verba.tests.change_helpers import grant, request_token

    token = request_token(api, token_change_key)
    params = {"callID": CALL_ID, "mname": "Sale", "mstart": "0", "mend": "1"}

    denied = api(action="AddMarker", apiKey=token_change_key, token=token, **params)
    grant(staff_user, "change_call")
    allowed = api(action="AddMarker", apiKey=token_change_key, token=token, **params)

    assert (code_of(denied), code_of(allowed)) == (6, 0)
    assert markers() == [("Sale", 0, 1_000)]
