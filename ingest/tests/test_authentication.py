"""X-Api-Key: who may write calls, and what the others are told."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from apikeys.services import create_api_key, revoke_api_key
from calls.models import Call

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls"


def post_with(key, body, **extra):
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_X_API_KEY=key)
    return client.post(URL, body, format="json", **extra)


def test_a_request_without_a_key_is_a_401_saying_what_is_missing(new_call_body):
    response = post_with(None, new_call_body)

    assert response.status_code == 401
    assert "X-Api-Key" in response.json()["detail"]
    assert response["WWW-Authenticate"]
    assert not Call.objects.exists()


@pytest.mark.parametrize(
    "key", ["9b1c0f2e-3d4a-4b5c-8d6e-7f8091a2b3c4", "not-a-guid", "", "x" * 500]
)
def test_an_unknown_or_malformed_key_is_a_401(key, new_call_body):
    response = post_with(key, new_call_body)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key: it is unknown, revoked or expired."}


def test_a_revoked_key_is_a_401(ingest_key, new_call_body):
    key, plaintext = ingest_key
    revoke_api_key(key)

    assert post_with(plaintext, new_call_body).status_code == 401


def test_a_key_revoked_in_another_process_is_refused_on_the_next_request(ingest_key, new_call_body):
    key, plaintext = ingest_key
    assert post_with(plaintext, new_call_body).status_code == 201
    # `.update()` sends no signal: nothing in this process hears of it, as in another worker.
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())

    assert post_with(plaintext, new_call_body).status_code == 401


def test_an_expired_key_is_a_401(new_call_body):
    _, plaintext = create_api_key(
        "Old PBX", can_ingest=True, expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert post_with(plaintext, new_call_body).status_code == 401


def test_a_key_without_the_ingest_permission_is_a_403(api_key, new_call_body):
    _, plaintext = api_key

    response = post_with(plaintext, new_call_body)

    assert response.status_code == 403
    assert response.json() == {"detail": "This API key may not ingest calls."}
    assert not Call.objects.exists()


def test_a_key_used_outside_its_networks_is_a_403(new_call_body):
    _, plaintext = create_api_key("Branch PBX", can_ingest=True, networks=["10.9.0.0/16"])

    outside = post_with(plaintext, new_call_body, REMOTE_ADDR="192.0.2.7")
    inside = post_with(plaintext, new_call_body, REMOTE_ADDR="10.9.3.4")

    assert outside.status_code == 403
    assert inside.status_code == 201


def test_a_key_in_upper_case_is_accepted(ingest_key, new_call_body):
    assert post_with(ingest_key[1].upper(), new_call_body).status_code == 201


def test_answers_never_echo_the_key(new_call_body):
    secret = "9b1c0f2e-3d4a-4b5c-8d6e-7f8091a2b3c4"

    response = post_with(secret, new_call_body)

    assert secret not in response.content.decode()


def test_a_write_notes_when_the_key_was_last_used(ingest_key, new_call_body):
    key, plaintext = ingest_key

    post_with(plaintext, new_call_body)

    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None
