"""KeepCall and DeleteCall through the HTTP stack (contract §7.4, §7.5, §7.13)."""

import os
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from audit.models import ApiRequest
from calls.models import Call
from calls.tests.factories import CallFactory
from verba.tests.change_helpers import code_of, grant, json_of, message_of, request_token
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"


@pytest.fixture
def call():
    return CallFactory(id=CALL_ID, called_number="8856")


def ongoing(**fields):
    return CallFactory(started_at=timezone.now() - timedelta(minutes=2), ended_at=None, **fields)


# --- KeepCall -------------------------------------------------------------------------


def test_keep_call_answers_the_exact_bytes_and_keeps_the_call(api, change_key, call):
    response = api(action="KeepCall", apiKey=change_key, callID=CALL_ID)

    assert response.content == golden("keep_call_success.xml")
    assert response["Content-Type"] == "text/xml; charset=UTF-8"
    assert Call.objects.get(pk=CALL_ID).keep is True


@pytest.mark.parametrize(
    ("response_type", "body"),
    [
        ("TEXT", b"OK\n"),
        ("JSON", b'{"code": 0, "type": "KeepCall", "timeZone": "UTC"}'),
    ],
)
def test_keep_call_in_text_and_json(api, change_key, call, response_type, body):
    response = api(action="KeepCall", apiKey=change_key, callID=CALL_ID, responseType=response_type)

    assert response.content == body


def test_keep_call_in_html_is_a_page_naming_the_action(api, change_key, call):
    html = api(action="KeepCall", apiKey=change_key, callID=CALL_ID, responseType="HTML")

    assert b"<title>KeepCall" in html.content and b'class="code">0<' in html.content


@pytest.mark.parametrize("name", ["callID", "ccdr_id", "cid"])
def test_keep_call_names_the_call_by_id_or_its_aliases(api, change_key, call, name):
    assert code_of(api(action="KeepCall", apiKey=change_key, **{name: CALL_ID})) == 0
    assert Call.objects.get(pk=CALL_ID).keep is True


def test_keep_call_by_extension_and_status_and_unmark_clears_it(api, change_key):
    live = ongoing(called_number="8856")

    api(action="KeepCall", apiKey=change_key, extension="8856", status="ongoing")
    assert Call.objects.get(pk=live.pk).keep is True
    api(action="KeepCall", apiKey=change_key, extension="8856", status="ongoing", unmark="1")
    api(action="KeepCall", apiKey=change_key, extension="8856", status="ongoing", unmark="1")

    assert Call.objects.get(pk=live.pk).keep is False


def test_keep_call_ignores_platform_and_native_ids(api, change_key, call):
    response = api(action="KeepCall", apiKey=change_key, platformCallID=call.platform_call_id)

    assert code_of(response) == 1
    assert Call.objects.get(pk=CALL_ID).keep is False


@pytest.mark.parametrize("unmark", ["2", "true", "yes", " 1"])
def test_an_unmark_other_than_0_or_1_is_code_1_and_changes_nothing(api, change_key, call, unmark):
    response = api(action="KeepCall", apiKey=change_key, callID=CALL_ID, unmark=unmark)

    assert code_of(response) == 1
    assert "unmark" in message_of(response)
    assert Call.objects.get(pk=CALL_ID).keep is False


def test_keep_call_on_an_unknown_call_is_code_2(api, change_key):
    response = api(action="KeepCall", apiKey=change_key, callID=CALL_ID)

    assert response.content == golden("keep_call_not_found.xml")


def test_keep_call_is_audited_with_who_and_what(api, change_key, call):
    api(action="KeepCall", apiKey=change_key, callID=CALL_ID)
    api(action="KeepCall", apiKey=change_key, callID=CALL_ID, unmark="1")

    rows = ApiRequest.objects.order_by("pk")
    assert [(r.action, str(r.call_id), r.change) for r in rows] == [
        ("KeepCall", CALL_ID, "kept"),
        ("KeepCall", CALL_ID, "keep mark cleared"),
    ]
    assert all(r.api_key is not None for r in rows)


# --- DeleteCall -----------------------------------------------------------------------


def test_delete_call_answers_the_exact_bytes_and_deletes_call_and_recording(
    api, change_key, call, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    call.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))
    path = call.recording.path

    with django_capture_on_commit_callbacks(execute=True):
        response = api(action="DeleteCall", apiKey=change_key, callID=CALL_ID)

    assert response.content == golden("delete_call_success.xml")
    assert not Call.objects.filter(pk=CALL_ID).exists()
    assert not os.path.exists(path)
    row = ApiRequest.objects.get()
    assert (str(row.call_id), row.change) == (CALL_ID, "deleted")


@pytest.mark.parametrize("form", ["platformCallID", "nativeID"])
def test_delete_call_names_the_call_by_platform_or_native_id(api, change_key, call, form):
    value = call.platform_call_id if form == "platformCallID" else call.native_id

    assert code_of(api(action="DeleteCall", apiKey=change_key, **{form: value})) == 0
    assert not Call.objects.exists()


def test_delete_call_refuses_status_next(api, change_key, call):
    response = api(action="DeleteCall", apiKey=change_key, extension="8856", status="last,next")

    assert code_of(response) == 1
    assert Call.objects.exists()


def test_a_held_call_is_not_deleted_code_6_in_the_exact_bytes(api, change_key):
    from retention.services import create_hold

    CallFactory(id=CALL_ID)
    create_hold("Case 1", reason="Litigation", by="counsel", call_ids=[CALL_ID])

    response = api(action="DeleteCall", apiKey=change_key, callID=CALL_ID)

    assert response.content == golden("delete_call_held.xml")
    assert Call.objects.filter(pk=CALL_ID).exists()


def test_a_kept_call_is_not_deleted_code_6(api, change_key):
    CallFactory(id=CALL_ID, keep=True)

    response = api(action="DeleteCall", apiKey=change_key, callID=CALL_ID)

    assert response.content == golden("delete_call_kept.xml")
    assert Call.objects.filter(pk=CALL_ID).exists()


def test_an_ongoing_call_stays_visible_until_the_write_that_ends_it(api, change_key):
    live = ongoing(called_number="8856")

    response = api(action="DeleteCall", apiKey=change_key, extension="8856", status="ongoing")

    assert code_of(response) == 0
    assert Call.objects.get(pk=live.pk).delete_when_ended is True
    assert ApiRequest.objects.get().change == "marked: deleted when the call ends"
    from calls.services import upsert_call

    upsert_call(live.pk, {"ended_at": timezone.now()})
    assert not Call.objects.filter(pk=live.pk).exists()


def test_keep_call_on_a_marked_call_cancels_the_deletion(api, change_key):
    live = ongoing(called_number="8856")
    api(action="DeleteCall", apiKey=change_key, callID=str(live.pk))

    api(action="KeepCall", apiKey=change_key, callID=str(live.pk))

    stored = Call.objects.get(pk=live.pk)
    assert (stored.keep, stored.delete_when_ended) == (True, False)


def test_delete_call_on_an_unknown_call_is_code_2(api, change_key):
    response = api(action="DeleteCall", apiKey=change_key, callID=CALL_ID, responseType="JSON")

    assert json_of(response) == {
        "code": 2,
        "type": "DeleteCall",
        "timeZone": "UTC",
        "errorMessage": "Unable to delete the call, because the call cannot be found.",
    }


# --- Permissions ----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["KeepCall", "DeleteCall", "AttachMetaData", "AddMarker"])
def test_a_key_without_the_change_permission_gets_code_6(api, key, call, action):
    response = api(action=action, apiKey=key, callID=CALL_ID, mname="x", mstart="0", mend="1")

    assert code_of(response) == 6
    assert message_of(response) == "Access denied: this API key may not change calls."
    assert Call.objects.get(pk=CALL_ID).keep is False


def test_a_change_only_key_may_not_query(api, change_key, call):
    response = api(action="GetCallURL", apiKey=change_key, callID=CALL_ID)

    assert code_of(response) == 6


def test_a_token_user_needs_change_call_to_keep(api, token_change_key, call, staff_user):
    token = request_token(api, token_change_key)

    denied = api(action="KeepCall", apiKey=token_change_key, token=token, callID=CALL_ID)
    grant(staff_user, "change_call")
    allowed = api(action="KeepCall", apiKey=token_change_key, token=token, callID=CALL_ID)

    assert code_of(denied) == 6
    assert message_of(denied) == "Access denied: the user may not change calls."
    assert code_of(allowed) == 0
    assert ApiRequest.objects.filter(action="KeepCall", result_code=0).get().user == staff_user


def test_a_token_user_needs_delete_call_to_delete(api, token_change_key, call, staff_user):
    grant(staff_user, "change_call")
    token = request_token(api, token_change_key)

    denied = api(action="DeleteCall", apiKey=token_change_key, token=token, callID=CALL_ID)
    grant(staff_user, "delete_call")
    allowed = api(action="DeleteCall", apiKey=token_change_key, token=token, callID=CALL_ID)

    assert message_of(denied) == "Access denied: the user may not delete calls."
    assert code_of(allowed) == 0
    assert not Call.objects.exists()


def test_a_change_only_key_that_requires_tokens_can_request_one(api, staff_user):
    from apikeys.services import create_api_key

    _, plaintext = create_api_key(
        "Changes only", can_query=False, can_change=True, requires_auth=True
    )
    grant(staff_user, "change_call")
    CallFactory(id=CALL_ID)

    token = request_token(api, plaintext)

    assert code_of(api(action="KeepCall", apiKey=plaintext, token=token, callID=CALL_ID)) == 0
    assert code_of(api(action="KeepCall", apiKey=plaintext, callID=CALL_ID)) == 5


def test_a_repeated_unmark_is_code_1_naming_it(api, change_key):
    response = api(action="KeepCall", apiKey=change_key, unmark=["1", "1"], responseType="JSON")

    assert json_of(response) == {
        "code": 1,
        "type": "KeepCall",
        "timeZone": "UTC",
        "errorMessage": "The parameter unmark is given more than once.",
    }
