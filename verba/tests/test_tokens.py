"""RequestToken and ReleaseToken, and tokens on other actions (contract §4)."""

import base64
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.models import ApiKey, ApiSession
from apikeys.secrets import digest
from apikeys.services import create_api_key
from callportal.hashers import PooledPBKDF2PasswordHasher
from calls.tests.factories import CallFactory
from directory.models import Access
from directory.tests.factories import directory_user
from verba.tests.conftest import golden

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'token="([A-Za-z0-9]{32})"')


def _code(response) -> int:
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def auth_key():
    """A key that requires a user token on every action."""
    return create_api_key("Needs a token", requires_auth=True)


@pytest.fixture
def token(api, auth_key, staff_user):
    return _token(api, auth_key, "staff", "pw-staff-1")


@pytest.fixture
def call():
    return CallFactory(called_number="8856")


def test_request_token_with_user_name_and_password_returns_a_32_character_token(
    api, auth_key, staff_user
):
    response = api(
        action="RequestToken", apiKey=auth_key[1], userName="staff", password="pw-staff-1"
    )
    assert _code(response) == 0
    token = TOKEN.search(response.content.decode()).group(1)
    session = ApiSession.objects.get()
    # Stored only as its digest, bound to the key and the user.
    assert session.token_digest == digest(token)
    assert token not in str(ApiSession.objects.values().get())
    assert session.api_key_id == auth_key[0].pk and session.user_id == staff_user.pk


def test_request_token_with_http_basic_works_too(api, auth_key, staff_user):
    response = api(action="RequestToken", apiKey=auth_key[1], headers=_basic("staff", "pw-staff-1"))
    assert _code(response) == 0


def test_request_token_xml_is_golden(api, auth_key, staff_user, monkeypatch):
    monkeypatch.setattr("apikeys.secrets.new_token", lambda: "AbCdEfGhIjKlMnOpQrStUvWxYz012345")
    response = api(
        action="RequestToken", apiKey=auth_key[1], userName="staff", password="pw-staff-1"
    )
    assert response.content == golden("request_token_success.xml")


def test_request_token_answers_in_text_and_json(api, auth_key, staff_user):
    text = api(
        action="RequestToken",
        apiKey=auth_key[1],
        userName="staff",
        password="pw-staff-1",
        responseType="TEXT",
    )
    assert re.fullmatch(rb"[A-Za-z0-9]{32}\n", text.content)
    start = timezone.now().replace(microsecond=0)
    data = json.loads(
        api(
            action="RequestToken",
            apiKey=auth_key[1],
            userName="staff",
            password="pw-staff-1",
            responseType="JSON",
        ).content
    )
    assert data["code"] == 0 and data["type"] == "RequestToken"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", data["token"])
    expires = timezone.datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - start <= timedelta(hours=1, seconds=1)


def test_the_token_lifetime_is_configurable(api, auth_key, staff_user, settings):
    settings.API_TOKEN_LIFETIME = 60
    api(action="RequestToken", apiKey=auth_key[1], userName="staff", password="pw-staff-1")
    session = ApiSession.objects.get()
    assert session.expires_at - session.created_at < timedelta(seconds=61)


def test_tokens_differ_each_time(api, auth_key, staff_user):
    params = {
        "action": "RequestToken",
        "apiKey": auth_key[1],
        "userName": "staff",
        "password": "pw-staff-1",
    }
    assert api(**params).content != api(**params).content


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({}, 5),
        ({"userName": "staff"}, 5),
        ({"password": "pw-staff-1"}, 5),
        ({"userName": "staff", "password": "wrong"}, 5),
        ({"userName": "nobody", "password": "pw-staff-1"}, 5),
    ],
)
def test_missing_or_wrong_credentials_are_code_5(api, auth_key, staff_user, credentials, code):
    response = api(action="RequestToken", apiKey=auth_key[1], **credentials)
    assert _code(response) == code
    assert b"pw-staff-1" not in response.content
    assert not ApiSession.objects.exists()


def test_a_malformed_basic_header_is_code_5(api, auth_key, staff_user):
    response = api(
        action="RequestToken", apiKey=auth_key[1], headers={"Authorization": "Basic %%%"}
    )
    assert _code(response) == 5


def test_basic_and_parameters_together_are_code_1(api, auth_key, staff_user):
    response = api(
        action="RequestToken",
        apiKey=auth_key[1],
        userName="staff",
        password="pw-staff-1",
        headers=_basic("staff", "pw-staff-1"),
    )
    assert _code(response) == 1


def test_an_inactive_user_gets_code_5(api, auth_key, staff_user):
    staff_user.is_active = False
    staff_user.save()
    response = api(
        action="RequestToken", apiKey=auth_key[1], userName="staff", password="pw-staff-1"
    )
    assert _code(response) == 5


def test_a_user_without_the_view_permission_gets_code_6(api, auth_key, django_user_model):
    django_user_model.objects.create_user(username="clerk", password="pw-clerk-1")
    response = api(
        action="RequestToken", apiKey=auth_key[1], userName="clerk", password="pw-clerk-1"
    )
    assert _code(response) == 6
    assert not ApiSession.objects.exists()


def test_request_token_needs_a_valid_key(api, staff_user):
    response = api(action="RequestToken", userName="staff", password="pw-staff-1")
    assert _code(response) == 4


def test_a_key_that_requires_authentication_refuses_requests_without_a_token(api, auth_key, call):
    response = api(action="GetCallURL", apiKey=auth_key[1], callID=str(call.pk))
    assert _code(response) == 5


def test_a_valid_token_opens_the_key_that_requires_it(api, auth_key, token, call):
    response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 0


def test_the_token_may_come_in_a_header(api, auth_key, token, call):
    response = api(
        action="GetCallURL",
        callID=str(call.pk),
        headers={"X-Api-Key": auth_key[1], "X-Api-Token": token},
    )
    assert _code(response) == 0


@pytest.mark.parametrize("bad", ["x" * 32, "short", "A" * 31 + "!", ""])
def test_an_unknown_or_malformed_token_is_code_5(api, auth_key, call, bad):
    response = api(action="GetCallURL", apiKey=auth_key[1], token=bad, callID=str(call.pk))
    assert _code(response) == 5


def test_a_token_sent_to_a_key_without_authentication_must_still_be_valid(api, key, call):
    response = api(action="GetCallURL", apiKey=key, token="x" * 32, callID=str(call.pk))
    assert _code(response) == 5


def test_a_token_issued_for_another_key_is_code_5(api, token, call):
    _, other = create_api_key("Other integration", requires_auth=True)
    response = api(action="GetCallURL", apiKey=other, token=token, callID=str(call.pk))
    assert _code(response) == 5


def test_an_expired_token_is_code_5(api, auth_key, token, call):
    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 5


def test_a_token_of_a_deactivated_user_stops_working(api, auth_key, token, call, staff_user):
    staff_user.is_active = False
    staff_user.save()
    response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 5


def test_a_token_of_a_user_who_lost_the_permission_is_code_6(
    api, auth_key, token, call, staff_user
):
    staff_user.user_permissions.remove(Permission.objects.get(codename="view_call"))
    response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 6


def test_a_token_works_for_a_user_who_has_the_permission_through_a_group(
    api, auth_key, call, django_user_model
):
    from django.contrib.auth.models import Group

    viewers = Group.objects.create(name="Call viewers")
    viewers.permissions.add(Permission.objects.get(codename="view_call"))
    user = directory_user("grouped", access=Access.ALL, password="pw-grouped-1")
    user.groups.add(viewers)
    token = _token(api, auth_key, "grouped", "pw-grouped-1")

    response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 0

    user.groups.clear()
    response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 6


def test_a_token_works_for_a_superuser_without_explicit_permissions(
    api, auth_key, call, django_user_model
):
    django_user_model.objects.create_superuser("root", password="pw-root-1")
    token = _token(api, auth_key, "root", "pw-root-1")

    response = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(response) == 0


def _token(api, auth_key, user_name: str, password: str) -> str:
    response = api(action="RequestToken", apiKey=auth_key[1], userName=user_name, password=password)
    found = TOKEN.search(response.content.decode())
    assert found, response.content
    return found.group(1)


def test_release_token_ends_the_token_at_once(api, auth_key, token, call):
    response = api(action="ReleaseToken", apiKey=auth_key[1], token=token)
    assert response.content == golden("release_token_success.xml")
    assert ApiSession.objects.get().released_at is not None
    after = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert _code(after) == 5
    assert _code(api(action="ReleaseToken", apiKey=auth_key[1], token=token)) == 5


def _with_token(api, auth_key, token, call):
    return api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))


def test_a_token_released_in_another_process_is_refused_on_the_next_request(
    api, auth_key, token, call
):
    assert _code(_with_token(api, auth_key, token, call)) == 0
    # `.update()` sends no signal: nothing in this process hears of it, as in another worker.
    ApiSession.objects.update(released_at=timezone.now())
    assert _code(_with_token(api, auth_key, token, call)) == 5


def test_a_user_deactivated_in_another_process_loses_the_token_on_the_next_request(
    api, auth_key, token, call, staff_user
):
    assert _code(_with_token(api, auth_key, token, call)) == 0
    type(staff_user).objects.filter(pk=staff_user.pk).update(is_active=False)
    assert _code(_with_token(api, auth_key, token, call)) == 5


def test_the_key_of_a_token_request_revoked_elsewhere_is_code_4(api, auth_key, token, call):
    assert _code(_with_token(api, auth_key, token, call)) == 0
    ApiKey.objects.filter(pk=auth_key[0].pk).update(revoked_at=timezone.now())
    assert _code(_with_token(api, auth_key, token, call)) == 4


def _is_read(sql: str) -> bool:
    # A prepared lookup (PostgreSQL) is logged as its EXECUTE, at first with its PREPARE.
    return sql.lstrip().upper().startswith(("SELECT", "EXECUTE", "PREPARE"))


def test_a_request_with_key_and_token_costs_one_lookup_and_reads_no_password(
    api, auth_key, token, call
):
    with CaptureQueriesContext(connection) as queries:
        assert _code(_with_token(api, auth_key, token, call)) == 0
    lookups = [q["sql"] for q in queries if _is_read(q["sql"]) and "_digest" in q["sql"]]
    assert len(lookups) == 1
    assert "password" not in lookups[0]


def test_release_token_answers_ok_in_text_and_json(api, auth_key, staff_user):
    def fresh():
        response = api(
            action="RequestToken",
            apiKey=auth_key[1],
            userName="staff",
            password="pw-staff-1",
            responseType="TEXT",
        )
        return response.content.decode().strip()

    text = api(action="ReleaseToken", apiKey=auth_key[1], token=fresh(), responseType="text")
    assert text.content == b"OK\n"
    data = api(action="ReleaseToken", apiKey=auth_key[1], token=fresh(), responseType="json")
    assert json.loads(data.content) == {"code": 0, "type": "ReleaseToken", "timeZone": "UTC"}


def test_release_token_without_a_token_is_code_5(api, key):
    response = api(action="ReleaseToken", apiKey=key)
    assert _code(response) == 5


def test_release_token_with_another_keys_token_is_code_5(api, token):
    _, other = create_api_key("Other integration")
    assert _code(api(action="ReleaseToken", apiKey=other, token=token)) == 5
    assert ApiSession.objects.get().released_at is None


def test_a_user_who_lost_the_permission_may_still_release_the_token(
    api, auth_key, token, staff_user
):
    staff_user.user_permissions.remove(Permission.objects.get(codename="view_call"))
    assert _code(api(action="ReleaseToken", apiKey=auth_key[1], token=token)) == 0


def test_session_last_used_is_written_at_most_once_a_minute(api, auth_key, token, call):
    session = ApiSession.objects.get()
    start = timezone.now()
    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert ApiSession.objects.get().last_used_at == session.last_used_at
    with time_machine.travel(start + timedelta(seconds=70), tick=False):
        api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))
    assert ApiSession.objects.get().last_used_at == start + timedelta(seconds=70)


def test_request_and_release_token_answer_in_html(api, auth_key, staff_user):
    response = api(
        action="RequestToken",
        apiKey=auth_key[1],
        userName="staff",
        password="pw-staff-1",
        responseType="HTML",
    )
    body = response.content.decode()
    assert response["Content-Type"] == "text/html; charset=UTF-8"
    assert "<title>RequestToken – Verba Business API</title>" in body
    token = re.search(r"<dt>token</dt>\n<dd>([A-Za-z0-9]{32})</dd>", body).group(1)
    assert "<dt>expiresAt</dt>" in body
    released = api(action="ReleaseToken", apiKey=auth_key[1], token=token, responseType="HTML")
    assert '<span class="code">0</span>' in released.content.decode()
    assert "<title>ReleaseToken – Verba Business API</title>" in released.content.decode()


class FewIterationsPooledHasher(PooledPBKDF2PasswordHasher):
    """The project's hasher, with few iterations to keep the test quick."""

    iterations = 1000


def test_request_tokens_password_hash_is_computed_on_the_cpu_pool(
    api, auth_key, settings, django_user_model, monkeypatch
):
    import django.contrib.auth.hashers as hashers

    from shared import cpu_pool

    settings.PASSWORD_HASHERS = ["verba.tests.test_tokens.FewIterationsPooledHasher"]
    user = django_user_model.objects.create_user(username="agent", password="pw-agent-1")
    user.user_permissions.add(Permission.objects.get(codename="view_call"))
    where = []
    pbkdf2 = hashers.pbkdf2

    def spying(*args, **kwargs):
        where.append(cpu_pool.in_pool())
        return pbkdf2(*args, **kwargs)

    monkeypatch.setattr(hashers, "pbkdf2", spying)

    response = api(
        action="RequestToken", apiKey=auth_key[1], userName="agent", password="pw-agent-1"
    )

    assert _code(response) == 0
    assert where == [True]


def test_a_password_change_ends_the_users_tokens_at_once(api, auth_key, token, staff_user, call):
    staff_user.set_password("pw-staff-2")
    staff_user.save()

    after = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))

    assert _code(after) == 5
    # The new password gets a new token.
    fresh = _token(api, auth_key, "staff", "pw-staff-2")
    assert (
        _code(api(action="GetCallURL", apiKey=auth_key[1], token=fresh, callID=str(call.pk))) == 0
    )


def test_deactivating_a_user_ends_their_tokens_at_once(api, auth_key, token, staff_user, call):
    staff_user.is_active = False
    staff_user.save(update_fields=["is_active"])

    after = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))

    assert _code(after) == 5


def test_a_login_or_a_name_change_leaves_the_users_tokens_alone(
    api, auth_key, token, staff_user, call
):
    staff_user.first_name = "Grace"
    staff_user.save()
    staff_user.save(update_fields=["last_login"])

    after = api(action="GetCallURL", apiKey=auth_key[1], token=token, callID=str(call.pk))

    assert _code(after) == 0
