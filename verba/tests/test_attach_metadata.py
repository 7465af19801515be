"""AttachMetaData through the HTTP stack (contract §7.6, §7.13): all or nothing."""

import pytest

from audit.models import ApiRequest
from calls.models import MetadataField, MetadataValue
from calls.tests.factories import CallFactory
from verba.actions import REGISTRY, known_names
from verba.tests.change_helpers import code_of, json_of, message_of
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"


@pytest.fixture
def call():
    return CallFactory(id=CALL_ID, called_number="8856")


@pytest.fixture(autouse=True)
def fields():
    MetadataField.objects.create(identifier="ticket", label="Ticket")
    MetadataField.objects.create(identifier="customer_id", label="Customer")
    MetadataField.objects.create(identifier="staff-note", label="Note", api_access=False)


def stored() -> dict[str, str]:
    return {v.field.identifier: v.value for v in MetadataValue.objects.select_related("field")}


def attach(api, key, **params):
    return api(action="AttachMetaData", apiKey=key, **params)


def test_attach_sets_fields_and_answers_the_exact_bytes(api, change_key, call):
    response = attach(api, change_key, callID=CALL_ID, ticket="T-1", customer_id="C-9")

    assert response.content == golden("attach_metadata_success.xml")
    assert stored() == {"ticket": "T-1", "customer_id": "C-9"}
    row = ApiRequest.objects.get()
    assert (str(row.call_id), row.change) == (CALL_ID, "set customer_id, ticket")


def test_attach_by_extension_and_status_through_a_post_body(api, change_key, call):
    response = api(
        method="post",
        action="AttachMetaData",
        apiKey=change_key,
        extension="8856",
        status="last",
        ticket="T-2 & <more>",
        responseType="JSON",
    )

    assert json_of(response) == {"code": 0, "type": "AttachMetaData", "timeZone": "UTC"}
    assert stored() == {"ticket": "T-2 & <more>"}


def test_an_empty_value_clears_the_field(api, change_key, call):
    attach(api, change_key, callID=CALL_ID, ticket="T-1", customer_id="C-9")

    response = attach(api, change_key, callID=CALL_ID, ticket="")

    assert code_of(response) == 0
    assert stored() == {"customer_id": "C-9"}
    assert ApiRequest.objects.last().change == "cleared ticket"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"ticket": "T-2", "unknown": "x"}, "unknown"),
        ({"ticket": "T-2", "Ticket": "x"}, "Ticket"),
        ({"ticket": "T-2", "staff-note": "x"}, "staff-note"),
        ({"ticket": "T-2", "customer_id": "x" * 1001}, "customer_id"),
        ({"ticket": "T-2", "customer_id": "bell\x07"}, "customer_id"),
    ],
)
def test_one_bad_field_is_code_1_naming_it_and_nothing_changes(
    api, change_key, call, params, named
):
    attach(api, change_key, callID=CALL_ID, ticket="T-1")

    response = attach(api, change_key, callID=CALL_ID, **params)

    assert code_of(response) == 1
    assert named in message_of(response)
    assert stored() == {"ticket": "T-1"}
    assert ApiRequest.objects.last().change == ""


def test_a_value_of_exactly_1000_characters_is_accepted(api, change_key, call):
    assert code_of(attach(api, change_key, callID=CALL_ID, ticket="x" * 1000)) == 0


def test_a_request_without_any_field_is_code_1(api, change_key, call):
    response = attach(api, change_key, callID=CALL_ID, responseType="TEXT")

    assert (
        response.content
        == b"ERROR 1: Give at least one metadata field to set, as IDENTIFIER=value.\n"
    )


def test_bad_fields_are_reported_before_the_call_is_looked_up(api, change_key):
    response = attach(api, change_key, callID=CALL_ID, nothing="x")

    assert code_of(response) == 1


def test_an_unknown_call_is_code_2_and_nothing_is_written(api, change_key):
    response = attach(api, change_key, callID=CALL_ID, ticket="T-1")

    assert code_of(response) == 2
    assert not MetadataValue.objects.exists()


def test_a_repeated_field_is_code_1(api, change_key, call, client):
    response = client.get(
        f"/verba/api?action=AttachMetaData&apiKey={change_key}&callID={CALL_ID}&ticket=a&ticket=b"
    )

    assert code_of(response) == 1
    assert not MetadataValue.objects.exists()


@pytest.mark.parametrize(
    "name", sorted({name for action in REGISTRY.values() for name in action.form.parameter_names()})
)
def test_the_admin_refuses_every_parameter_name_an_action_declares_as_an_identifier(
    admin_client, name
):
    response = admin_client.post(
        "/admin/calls/metadatafield/add/",
        {"identifier": name.upper(), "label": "A field", "api_access": "on"},
    )

    assert response.status_code == 200
    assert "is a Business API parameter name" in response.content.decode()
    assert not MetadataField.objects.filter(identifier__iexact=name).exists()


def test_the_names_the_api_knows_are_the_transport_s_and_every_action_s_declared_ones():
    declared = {name for action in REGISTRY.values() for name in action.form.parameter_names()}

    assert known_names() == declared | {"action", "apiKey", "token", "responseType"}
    # The names the hand-kept list had left out (issue 22).
    assert {"mname", "mmode", "mstart", "mend", "unmark"} <= known_names()


def test_an_unknown_field_is_named_in_plain_words(api, change_key, call):
    response = attach(api, change_key, callID=CALL_ID, nosuch="x")

    assert message_of(response) == "The parameter nosuch is not a metadata field the API may set."
