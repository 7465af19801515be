from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apikeys import secrets
from apikeys.models import ApiKey, ApiKeyState
from apikeys.services import create_api_key, revoke_api_key, rotate_api_key

pytestmark = pytest.mark.django_db


def test_it_stores_a_digest_that_is_never_the_key():
    key, plaintext = create_api_key("CRM")

    stored = ApiKey.objects.values().get(pk=key.pk)
    assert plaintext not in str(stored)
    assert plaintext.replace("-", "") not in str(stored)
    assert key.key_digest == secrets.digest(plaintext)
    assert len(key.key_digest) == 64


def test_it_mints_canonical_lower_case_guid_keys():
    _, plaintext = create_api_key("CRM")

    assert len(plaintext) == 36
    assert plaintext == plaintext.lower()
    assert plaintext.count("-") == 4


def test_it_matches_an_imported_key_whatever_its_letter_case():
    key, plaintext = create_api_key("Migrated", key="A8343631-9F35-4A3A-83F0-9E81592339FB")

    assert plaintext == "a8343631-9f35-4a3a-83f0-9e81592339fb"
    assert secrets.key_digest("A8343631-9F35-4A3A-83F0-9E81592339FB") == key.key_digest


def test_it_rejects_a_key_that_is_not_a_guid():
    with pytest.raises(ValidationError) as exc:
        create_api_key("Migrated", key="not-a-guid")
    assert "key" in exc.value.message_dict


def test_it_rejects_importing_the_same_key_twice():
    create_api_key("First", key="a8343631-9f35-4a3a-83f0-9e81592339fb")

    with pytest.raises(ValidationError):
        create_api_key("Second", key="A8343631-9F35-4A3A-83F0-9E81592339FB")


def test_the_digest_depends_on_the_server_secret(settings):
    first = secrets.digest("a8343631-9f35-4a3a-83f0-9e81592339fb")
    settings.API_DIGEST_KEY = "another-server-secret"

    assert secrets.digest("a8343631-9f35-4a3a-83f0-9e81592339fb") != first


@pytest.mark.parametrize("name", ["", "ab", "  ab  ", "x" * 129])
def test_it_rejects_names_outside_3_to_128_characters(name):
    with pytest.raises(ValidationError) as exc:
        create_api_key(name)
    assert "name" in exc.value.message_dict


@pytest.mark.parametrize("name", ["CRM", "x" * 128])
def test_it_accepts_names_of_3_and_128_characters(name):
    key, _ = create_api_key(name)
    assert key.name == name


def test_the_database_refuses_a_name_shorter_than_3_characters():
    key, _ = create_api_key("CRM")

    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.filter(pk=key.pk).update(name="ab")


def test_it_normalizes_network_restrictions():
    key, _ = create_api_key(
        "Office", networks=["10.1.2.3/24", "192.168.0.7", "2001:db8::/32", "10.1.2.0/24"]
    )

    assert key.networks == ["10.1.2.0/24", "192.168.0.7/32", "2001:db8::/32"]


def test_it_names_every_bad_network_entry():
    with pytest.raises(ValidationError) as exc:
        create_api_key("Office", networks=["10.0.0.0/8", "10.0.0.300", "example.com"])

    messages = exc.value.message_dict["networks"]
    assert len(messages) == 2
    assert any("10.0.0.300" in m for m in messages)
    assert any("example.com" in m for m in messages)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.200", True),
        ("10.1.3.1", False),
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("::ffff:10.1.2.9", True),
        ("", False),
        ("garbage", False),
    ],
)
def test_it_allows_only_addresses_inside_its_networks(address, allowed):
    key, _ = create_api_key("Office", networks=["10.1.2.0/24", "2001:db8::/32"])

    assert key.allows_address(address) is allowed


def test_a_key_without_networks_allows_any_address():
    key, _ = create_api_key("Anywhere")

    assert key.allows_address("203.0.113.9")
    assert key.allows_address("2001:db8::1")


def test_a_key_is_active_until_revoked_or_expired():
    key, _ = create_api_key("CRM", expires_at=timezone.now() + timedelta(days=1))
    assert key.state == ApiKeyState.ACTIVE

    key.expires_at = timezone.now() - timedelta(seconds=1)
    assert key.state == ApiKeyState.EXPIRED

    revoke_api_key(key)
    assert ApiKey.objects.get(pk=key.pk).state == ApiKeyState.REVOKED


def test_revoking_twice_keeps_the_first_time():
    key, _ = create_api_key("CRM")
    revoke_api_key(key)
    first = key.revoked_at

    revoke_api_key(key)

    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_rotating_gives_a_new_secret_and_forgets_the_old_one():
    key, old = create_api_key("CRM")

    new = rotate_api_key(key)

    key.refresh_from_db()
    assert new != old
    assert key.key_digest == secrets.digest(new)
    assert key.hint == f"…{new[-4:]}"
    assert not ApiKey.objects.filter(key_digest=secrets.digest(old)).exists()


def test_tokens_are_32_characters_of_letters_and_digits():
    tokens = {secrets.new_token() for _ in range(50)}

    assert len(tokens) == 50
    assert all(len(t) == 32 and t.isascii() and t.isalnum() for t in tokens)
