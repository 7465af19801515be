"""Hostile parameter values through the full HTTP stack: NUL and control characters,
GUID look-alikes that Python's uuid module would accept, and non-ASCII characters that
upper-case to ASCII. Each must get the contract's answer, on SQLite and PostgreSQL alike."""

import base64
import uuid

import pytest

from apikeys.services import create_api_key
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

CALL_ID = "87a9902f-83b3-519c-8621-d728e25f58ff"
FULL_WIDTH_EIGHT = "\uff18"  # ８, which int(..., 16) reads as 8


def _code(response) -> int:
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def call():
    return CallFactory(id=CALL_ID, called_number="8856")


@pytest.fixture
def get(api, key):
    def call(**params):
        return api(action="GetCallURL", apiKey=key, **params)

    return call


# --- control characters ---------------------------------------------------------------------


@pytest.mark.parametrize("extension", ["88\x0056", "8856\x00", "88\x0156", "88\x1b56", "88\x7f56"])
def test_an_extension_with_a_control_character_is_code_1(get, call, extension):
    response = get(extension=extension, status="last")

    assert response.status_code == 200
    assert _code(response) == 1
    assert b"extension" in response.content


@pytest.mark.parametrize(
    "credentials",
    [
        {"userName": "sta\x00ff", "password": "pw-staff-1"},
        {"userName": "staff\x00", "password": "pw-staff-1"},
        {"userName": "staff", "password": "pw-staff-1\x00"},
    ],
)
def test_a_nul_in_the_user_name_or_password_reads_as_wrong_credentials(
    api, key, staff_user, credentials
):
    response = api(action="RequestToken", apiKey=key, **credentials)

    assert _code(response) == 5, response.content
    assert response.status_code == 200


def test_a_nul_in_basic_credentials_reads_as_wrong_credentials(api, key, staff_user):
    response = api(action="RequestToken", apiKey=key, headers=_basic("sta\x00ff", "pw-staff-1"))

    assert _code(response) == 5, response.content
    assert response.status_code == 200


def test_a_nul_in_the_call_id_is_code_1(get, call):
    assert _code(get(callID=CALL_ID[:-1] + "\x00")) == 1


def test_a_nul_in_the_status_is_code_1(get, call):
    assert _code(get(extension="8856", status="last\x00")) == 1


def test_a_nul_in_the_token_reads_as_an_invalid_token(api, staff_user):
    _, plaintext = create_api_key("Needs a token", requires_auth=True)

    response = api(action="GetCallURL", apiKey=plaintext, token="a" * 31 + "\x00", callID=CALL_ID)

    assert _code(response) == 5


def test_a_nul_in_the_api_key_reads_as_an_invalid_key(get, api, key):
    response = api(action="GetCallURL", apiKey=key[:-1] + "\x00", callID=CALL_ID)

    assert _code(response) == 4


# --- GUIDs: the canonical 8-4-4-4-12 hex form only -------------------------------------------


@pytest.mark.parametrize(
    "call_id",
    [
        "urn:87a9902f83b3519c8621d728e25f58ff",
        "87a9902f83b3519c8621d728e25f58ff----",
        "{87a9902f83b3519c8621d728e25f58ff}",
        "87a9902f-83b3-519c-" + FULL_WIDTH_EIGHT + "621-d728e25f58ff",
        "87a9902f-83b3-519c-8621-d728e25f58f\u0661",  # Arabic-Indic digit one
        "87a9902f-83b3-519c-86-21d728e25f58ff",
    ],
)
def test_a_guid_look_alike_call_id_is_code_1(get, call, call_id):
    response = get(callID=call_id)

    assert _code(response) == 1
    assert b"callID" in response.content


def test_the_canonical_call_id_in_any_letter_case_still_finds_the_call(get, call):
    assert _code(get(callID=CALL_ID.upper())) == 0
    assert _code(get(callID=f"  {CALL_ID} ")) == 0


def test_an_api_key_in_urn_form_is_refused(api, key, call):
    urn = "urn:" + key.replace("-", "")

    assert _code(api(action="GetCallURL", apiKey=urn, callID=CALL_ID)) == 4


def test_an_api_key_with_dashes_moved_is_refused(api, key, call):
    moved = key.replace("-", "") + "----"

    assert _code(api(action="GetCallURL", apiKey=moved, callID=CALL_ID)) == 4


def test_an_api_key_with_a_full_width_digit_is_refused(api, call):
    _, plaintext = create_api_key("With an eight")
    # Make sure the key holds an 8 to disguise; a fresh key usually does.
    while "8" not in plaintext:
        _, plaintext = create_api_key(f"With an eight {uuid.uuid4()}")
    disguised = plaintext.replace("8", FULL_WIDTH_EIGHT, 1)

    assert _code(api(action="GetCallURL", apiKey=disguised, callID=CALL_ID)) == 4
    assert _code(api(action="GetCallURL", apiKey=plaintext.upper(), callID=CALL_ID)) == 0


# --- responseType: ASCII only --------------------------------------------------------------


@pytest.mark.parametrize("response_type", ["J\u017fON", "TEXT\u200b", "\uff2a\uff33\uff2f\uff2e"])
def test_a_response_type_that_only_upper_cases_to_a_known_one_is_code_1_in_xml(
    api, key, call, response_type
):
    response = api(action="GetCallURL", apiKey=key, callID=CALL_ID, responseType=response_type)

    assert response["Content-Type"].startswith("text/xml")
    assert _code(response) == 1
    assert b"responseType" in response.content
