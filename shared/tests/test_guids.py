"""The one GUID form accepted from outside."""

import uuid

import pytest

from shared.guids import parse_guid

GUID = "a8343631-9f35-4a3a-83f0-9e81592339fb"


@pytest.mark.parametrize("text", [GUID, GUID.upper()])
def test_the_canonical_form_is_read_in_either_letter_case(text):
    assert parse_guid(text) == uuid.UUID(GUID)


@pytest.mark.parametrize(
    "text",
    [
        f"{{{GUID}}}",
        f"urn:uuid:{GUID}",
        GUID.replace("-", ""),
        f"{GUID}\n",
        f" {GUID}",
        GUID.replace("a", "\uff41", 1),  # a full-width letter
        GUID.replace("3", "\u0663", 1),  # an Arabic-Indic digit
    ],
)
def test_every_other_spelling_is_refused(text):
    assert parse_guid(text) is None
