"""API keys: lookup by digest, states, network restrictions, client address, last use."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys import secrets
from apikeys.models import ApiKey
from apikeys.services import create_api_key, revoke_api_key, rotate_api_key
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def call():
    return CallFactory(called_number="8856")


def _code(response) -> int:
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def _get(api, key, call, **extra):
    return api(action="GetCallURL", apiKey=key, callID=str(call.pk), **extra)


def test_key_matching_ignores_letter_case(api, key, call):
    assert _code(_get(api, key.upper(), call)) == 0


def test_surrounding_white_space_around_the_key_is_ignored(api, key, call):
    assert _code(_get(api, f" {key} ", call)) == 0


def test_a_missing_key_is_code_4(api, call):
    response = api(action="GetCallURL", callID=str(call.pk))
    assert _code(response) == 4
    assert b"The API key is missing." in response.content


def test_an_unknown_key_is_code_4(api, call):
    assert _code(_get(api, str(uuid.uuid4()), call)) == 4


def test_a_revoked_key_stops_working_at_once(api, api_key, call):
    stored, plaintext = api_key
    assert _code(_get(api, plaintext, call)) == 0
    revoke_api_key(ApiKey.objects.get(pk=stored.pk))
    assert _code(_get(api, plaintext, call)) == 4


def test_a_rotated_key_stops_working_at_once_and_the_new_one_works(api, api_key, call):
    stored, old = api_key
    assert _code(_get(api, old, call)) == 0
    new = rotate_api_key(ApiKey.objects.get(pk=stored.pk))
    assert _code(_get(api, old, call)) == 4
    assert _code(_get(api, new, call)) == 0


def test_an_expired_key_is_code_4_with_the_same_message_as_an_unknown_one(api, call):
    _, plaintext = create_api_key("Short-lived", expires_at=timezone.now() + timedelta(hours=1))
    assert _code(_get(api, plaintext, call)) == 0
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        expired = _get(api, plaintext, call)
    unknown = _get(api, str(uuid.uuid4()), call)
    assert _code(expired) == 4
    assert expired.content == unknown.content


def test_a_key_without_the_query_permission_is_code_6(api, call):
    _, plaintext = create_api_key("Ingest only", can_query=False, can_ingest=True)
    assert _code(_get(api, plaintext, call)) == 6


@pytest.mark.parametrize(
    ("networks", "address", "code"),
    [
        (["192.0.2.0/24"], "192.0.2.77", 0),
        (["192.0.2.0/24"], "198.51.100.1", 6),
        (["192.0.2.10"], "192.0.2.10", 0),
        (["192.0.2.10"], "192.0.2.11", 6),
        (["2001:db8::/32"], "2001:db8::5", 0),
        (["2001:db8::/32"], "2001:db9::5", 6),
        (["192.0.2.0/24"], "::ffff:192.0.2.9", 0),
        ([], "203.0.113.5", 0),
    ],
)
def test_network_restrictions_are_checked_against_the_client_address(
    client, call, networks, address, code
):
    _, plaintext = create_api_key("Restricted", networks=networks)
    response = client.get(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": plaintext, "callID": str(call.pk)},
        REMOTE_ADDR=address,
    )
    assert _code(response) == code


@pytest.mark.parametrize(
    "trusted_proxies",
    [[], ["10.0.0.1"]],
    ids=["without-trusted-proxies", "from-a-peer-that-is-not-a-trusted-proxy"],
)
def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    client, call, settings, trusted_proxies
):
    settings.TRUSTED_PROXIES = trusted_proxies
    _, plaintext = create_api_key("Office", networks=["192.0.2.0/24"])
    response = client.get(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": plaintext, "callID": str(call.pk)},
        REMOTE_ADDR="198.51.100.1",
        HTTP_X_FORWARDED_FOR="192.0.2.7",
    )
    assert _code(response) == 6


@pytest.mark.parametrize(
    ("forwarded_for", "code"),
    [
        ("192.0.2.7", 0),
        # The right-most entry not itself a proxy is the client; a spoofed left part is not.
        ("192.0.2.7, 198.51.100.1", 6),
        ("198.51.100.1, 192.0.2.7", 0),
        ("198.51.100.1, 192.0.2.7, 10.0.0.2", 0),
        ("192.0.2.7:5060", 0),
        ("garbage", 6),
    ],
)
def test_behind_a_trusted_proxy_the_right_most_untrusted_forwarded_address_is_the_client(
    client, call, settings, forwarded_for, code
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    _, plaintext = create_api_key("Office", networks=["192.0.2.0/24"])
    response = client.get(
        "/verba/api",
        {"action": "GetCallURL", "apiKey": plaintext, "callID": str(call.pk)},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )
    assert _code(response) == code


def test_last_used_is_written_at_most_once_a_minute(api, api_key, call):
    stored, plaintext = api_key
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _get(api, plaintext, call)
        first = ApiKey.objects.get(pk=stored.pk).last_used_at
        assert first == start
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        with CaptureQueriesContext(connection) as queries:
            _get(api, plaintext, call)
        # An UPDATE of the key's row (the throttle's spend reads the key table too).
        assert not [q for q in queries if 'UPDATE "apikeys_apikey"' in q["sql"]]
    assert ApiKey.objects.get(pk=stored.pk).last_used_at == first
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        _get(api, plaintext, call)
    assert ApiKey.objects.get(pk=stored.pk).last_used_at == start + timedelta(seconds=61)


# Another server process changes the row: `.update()` sends no signal, so nothing in this
# process hears of it, just as nothing would in a second gunicorn worker.


def test_a_key_revoked_in_another_process_is_refused_on_the_next_request(api, api_key, call):
    stored, plaintext = api_key
    assert _code(_get(api, plaintext, call)) == 0
    ApiKey.objects.filter(pk=stored.pk).update(revoked_at=timezone.now())
    assert _code(_get(api, plaintext, call)) == 4


def test_a_key_rotated_in_another_process_is_refused_on_the_next_request(api, api_key, call):
    stored, old = api_key
    assert _code(_get(api, old, call)) == 0
    new = secrets.new_key()
    ApiKey.objects.filter(pk=stored.pk).update(key_digest=secrets.digest(new))
    assert _code(_get(api, old, call)) == 4
    assert _code(_get(api, new, call)) == 0


def test_a_key_whose_permission_was_withdrawn_elsewhere_is_refused_on_the_next_request(
    api, api_key, call
):
    stored, plaintext = api_key
    assert _code(_get(api, plaintext, call)) == 0
    ApiKey.objects.filter(pk=stored.pk).update(can_query=False)
    assert _code(_get(api, plaintext, call)) == 6


def _key_lookups(queries: CaptureQueriesContext) -> list[str]:
    # A prepared lookup (PostgreSQL) is logged as its EXECUTE, at first with its PREPARE.
    reads = ("SELECT", "EXECUTE", "PREPARE")
    return [
        q["sql"] for q in queries if q["sql"].upper().startswith(reads) and "key_digest" in q["sql"]
    ]


def test_each_request_looks_its_key_up_once(api, key, call):
    _get(api, key, call)
    with CaptureQueriesContext(connection) as queries:
        assert _code(_get(api, key, call)) == 0
    assert len(_key_lookups(queries)) == 1
