"""calls.metadata and the MetadataField rules: custom fields and their values on calls."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from calls.metadata import MetadataRefused, attach_metadata, metadata_by_call, metadata_of
from calls.models import MetadataField, MetadataValue
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields():
    return {
        name: MetadataField.objects.create(identifier=name, label=label, api_access=api)
        for name, label, api in [
            ("ticket", "Ticket", True),
            ("customer_id", "Customer", True),
            ("internal-note", "Note", False),
        ]
    }


def stored(call) -> dict[str, str]:
    return {v.field.identifier: v.value for v in MetadataValue.objects.filter(call=call)}


@pytest.mark.parametrize("identifier", ["abc", "Ticket_No-2", "x" * 128])
def test_an_identifier_of_3_to_128_letters_digits_underscores_and_dashes_is_valid(identifier):
    MetadataField(identifier=identifier, label="A field").full_clean()


@pytest.mark.parametrize("identifier", ["ab", "x" * 129, "ticket no", "tïcket", "tick.et", ""])
def test_other_identifiers_are_refused(identifier):
    with pytest.raises(ValidationError) as error:
        MetadataField(identifier=identifier, label="A field").full_clean()
    assert "identifier" in error.value.message_dict


@pytest.mark.parametrize("identifier", ["action", "apiKey", "APIKEY", "cid", "unmark", "mname"])
def test_business_api_parameter_names_are_refused_as_identifiers(identifier):
    with pytest.raises(ValidationError) as error:
        MetadataField(identifier=identifier, label="A field").full_clean()
    assert "Business API parameter" in str(error.value)


def test_identifiers_differing_only_in_letter_case_cannot_both_exist(fields):
    with pytest.raises(IntegrityError):
        MetadataField.objects.create(identifier="Ticket", label="Another ticket")


def test_attaching_sets_and_clears_several_fields_at_once(fields):
    call = CallFactory()
    attach_metadata(call.pk, {"ticket": "T-1", "customer_id": "C-9"})

    result = attach_metadata(call.pk, {"ticket": "T-2", "customer_id": ""})

    assert stored(call) == {"ticket": "T-2"}
    assert (result.set, result.cleared) == (["ticket"], ["customer_id"])
    assert result.describe() == "set ticket; cleared customer_id"


@pytest.mark.parametrize(
    ("values", "blamed"),
    [
        ({"ticket": "T-2", "unknown_field": "x"}, "unknown_field"),
        ({"ticket": "T-2", "Customer_ID": "x"}, "Customer_ID"),
        ({"ticket": "T-2", "internal-note": "x"}, "internal-note"),
        ({"ticket": "T-2", "customer_id": "x" * 1001}, "customer_id"),
        ({"ticket": "T-2", "customer_id": "a\x00b"}, "customer_id"),
    ],
)
def test_one_bad_field_or_value_changes_nothing_and_is_named(fields, values, blamed):
    call = CallFactory()
    attach_metadata(call.pk, {"ticket": "T-1"})

    with pytest.raises(MetadataRefused) as refused:
        attach_metadata(call.pk, values)

    assert refused.value.name == blamed
    assert stored(call) == {"ticket": "T-1"}


def test_a_value_of_1000_characters_with_line_breaks_is_kept_whole(fields):
    call = CallFactory()
    value = ("line\r\n\t" * 200)[:1000]

    attach_metadata(call.pk, {"ticket": value})

    assert stored(call) == {"ticket": value}


def test_reading_orders_by_identifier_and_the_api_sees_only_fields_with_api_access(fields):
    call, other = CallFactory(), CallFactory()
    attach_metadata(call.pk, {"ticket": "T-1", "customer_id": "C-9"})
    MetadataValue.objects.create(call=call, field=fields["internal-note"], value="staff only")

    assert [(v.identifier, v.value) for v in metadata_of(call)] == [
        ("customer_id", "C-9"),
        ("internal-note", "staff only"),
        ("ticket", "T-1"),
    ]
    assert [v.identifier for v in metadata_of(call, api_only=True)] == ["customer_id", "ticket"]
    assert metadata_by_call([call.pk, other.pk]) == {
        call.pk: {"customer_id": "C-9", "ticket": "T-1"}
    }
    assert list(metadata_by_call([call.pk])[call.pk]) == ["customer_id", "ticket"]
