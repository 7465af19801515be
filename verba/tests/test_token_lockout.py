"""RequestToken and the login lockout (django-axes), and RequestToken's own, tighter rate."""

import json

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import Permission

from apikeys.models import ApiSession
from apikeys.services import create_api_key
from directory.models import Access, Profile

pytestmark = pytest.mark.django_db

LIMIT = 5  # the default LOGIN_FAILURE_LIMIT
LOCKED = (
    "Too many failed logins for this user name or from this address; logins are refused for "
    "a while. Try again later, or ask an administrator to unlock it."
)


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast, tests only) that counts the password hashes it computes."""

    hashes = 0

    def encode(self, password, salt):
        CountingHasher.hashes += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def _counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["verba.tests.test_token_lockout.CountingHasher"]
    CountingHasher.hashes = 0


def request_token(client, key, password, *, user="staff", address="192.0.2.20", fmt="XML"):
    return client.get(
        "/verba/api",
        {
            "action": "RequestToken",
            "apiKey": key,
            "userName": user,
            "password": password,
            "responseType": fmt,
        },
        REMOTE_ADDR=address,
    )


def code_of(response) -> int:
    return int(response.content.split(b'code="', 1)[1].split(b'"', 1)[0])


def test_wrong_passwords_through_request_token_lock_the_login_page_too(client, key, staff_user):
    for _ in range(LIMIT):
        assert code_of(request_token(client, key, "wrong")) == 5

    page = client.post(
        "/accounts/login/",
        {"username": "staff", "password": "pw-staff-1"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert page.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_user_locked_on_the_login_page_cannot_get_a_token_either(client, key, staff_user):
    for _ in range(LIMIT):
        client.post("/accounts/login/", {"username": "staff", "password": "wrong"})

    response = request_token(client, key, "pw-staff-1", fmt="JSON", address="198.51.100.7")

    assert response.status_code == 200
    assert json.loads(response.content) == {
        "code": 5,
        "type": "RequestToken",
        "timeZone": "UTC",
        "errorMessage": LOCKED,
    }
    assert not ApiSession.objects.exists()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("XML", f"<ErrorMessage>{LOCKED}</ErrorMessage>"),
        ("TEXT", f"ERROR 5: {LOCKED}\n"),
        ("HTML", LOCKED),
    ],
)
def test_the_lockout_is_answered_in_the_requested_format(client, key, staff_user, fmt, expected):
    for _ in range(LIMIT):
        request_token(client, key, "wrong")

    response = request_token(client, key, "pw-staff-1", fmt=fmt)

    assert response.status_code == 200
    assert expected in response.content.decode()


def test_one_users_wrong_passwords_do_not_lock_out_another_user_on_the_same_host(
    client, key, staff_user, django_user_model
):
    other = django_user_model.objects.create_user(username="other", password="pw-other-1")
    Profile.objects.create(user=other, access=Access.ALL)
    other.user_permissions.add(
        Permission.objects.get(codename="view_call", content_type__app_label="calls")
    )
    for _ in range(LIMIT):
        request_token(client, key, "wrong", user="staff", address="192.0.2.20")

    assert code_of(request_token(client, key, "pw-other-1", user="other")) == 0
    assert code_of(request_token(client, key, "pw-staff-1", user="staff")) == 5


def test_failures_from_one_address_lock_it_for_every_user_name_only_at_the_address_limit(
    client, key, staff_user, settings
):
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        request_token(client, key, "wrong", user=f"guess-{n}", address="192.0.2.20")
    assert code_of(request_token(client, key, "pw-staff-1", address="192.0.2.20")) == 0

    request_token(client, key, "wrong", user="guess-last", address="192.0.2.20")
    assert code_of(request_token(client, key, "pw-staff-1", address="192.0.2.20")) == 5
    assert code_of(request_token(client, key, "pw-staff-1", address="192.0.2.21")) == 0


def test_a_locked_out_attempt_costs_no_password_hash(client, key, staff_user):
    for _ in range(LIMIT):
        request_token(client, key, "wrong")
    before = CountingHasher.hashes

    for _ in range(20):
        request_token(client, key, "pw-staff-1")

    assert CountingHasher.hashes == before


def test_the_lockout_records_hold_no_key_and_no_password(client, key, staff_user):
    request_token(client, key, "pw-canary-7f3a9c")

    stored = str(list(AccessAttempt.objects.values()))
    assert "staff" in stored and "192.0.2.20" in stored
    assert "pw-canary-7f3a9c" not in stored
    assert key not in stored


# --- RequestToken's own rate ------------------------------------------------------------


def test_request_token_has_its_own_tighter_rate_per_key(client, key, staff_user, settings):
    settings.API_TOKEN_THROTTLE = "3/min"
    addresses = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]

    answers = [request_token(client, key, "pw-staff-1", address=a) for a in addresses]

    assert [(r.status_code, code_of(r)) for r in answers] == [(200, 0)] * 3 + [(429, 7)]
    assert answers[-1]["Retry-After"] == "20"
    # Other actions of the key keep their own (larger) allowance.
    other = client.get("/verba/api", {"action": "GetCallURL", "apiKey": key, "callID": "x"})
    assert other.status_code == 200


def test_request_token_has_its_own_rate_per_address_across_keys(client, key, staff_user, settings):
    settings.API_TOKEN_THROTTLE = "2/min"
    _, other_key = create_api_key("Other integration")

    assert code_of(request_token(client, key, "pw-staff-1", address="192.0.2.1")) == 0
    assert code_of(request_token(client, other_key, "pw-staff-1", address="192.0.2.1")) == 0
    assert code_of(request_token(client, other_key, "pw-staff-1", address="192.0.2.1")) == 7
    assert code_of(request_token(client, other_key, "pw-staff-1", address="192.0.2.2")) == 0


def test_throttled_token_requests_cost_no_password_hash(client, key, staff_user, settings):
    settings.API_TOKEN_THROTTLE = "1/min"
    request_token(client, key, "pw-staff-1")
    before = CountingHasher.hashes

    for _ in range(10):
        assert code_of(request_token(client, key, "wrong")) == 7

    assert CountingHasher.hashes == before
    assert not AccessAttempt.objects.exists()


def test_off_switches_the_token_rate_off(client, key, staff_user, settings):
    settings.API_TOKEN_THROTTLE = "off"

    assert {code_of(request_token(client, key, "pw-staff-1")) for _ in range(30)} == {0}


def test_a_bad_token_rate_is_reported_by_the_system_checks(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.API_TOKEN_THROTTLE = "lots"
    with pytest.raises(SystemCheckError, match=r"verba\.E004.*API_TOKEN_THROTTLE"):
        call_command("check")
