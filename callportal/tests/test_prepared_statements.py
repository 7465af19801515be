"""The key, token and call lookups run as statements prepared once per connection
(PostgreSQL only; see conftest.py): the token query takes ten times longer to plan than
to run. A GetCallURL sends its token's (or key's) lookup and its call's as one statement.
A connection whose statements are not what the process believes still answers."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.services import create_api_key
from calls.tests.factories import CallFactory
from shared import sql

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token_request(client, staff_user):
    call = CallFactory()
    _, key = create_api_key("Prepared", requires_auth=True)
    answer = client.get(
        "/verba/api",
        {"action": "RequestToken", "apiKey": key, "userName": "staff", "password": "pw-staff-1"},
    )
    token = re.search(rb'token="(\w+)"', answer.content).group(1).decode()

    def get_call_url():
        return client.get(
            "/verba/api",
            {"action": "GetCallURL", "apiKey": key, "token": token, "callID": str(call.pk)},
        )

    return get_call_url


def prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def answered(response) -> bool:
    return response.status_code == 200 and b'code="0"' in response.content


def forget_prepared_statements() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    sql._prepared.clear()


def test_a_token_request_prepares_its_lookups_once_and_then_only_executes_them(token_request):
    forget_prepared_statements()
    with CaptureQueriesContext(connection) as first:
        assert answered(token_request())
    with CaptureQueriesContext(connection) as second:
        assert answered(token_request())

    def session_lookups(queries):
        return [q["sql"] for q in queries if "apikeys_apisession_by_token_digest" in q["sql"]]

    assert [q.split(" AS ")[0] for q in session_lookups(first)] == [
        f"PREPARE {name}" for name in prepared_names() if name.startswith("apikeys_apisession")
    ]
    assert len(session_lookups(second)) == 1
    assert session_lookups(second)[0].startswith("EXECUTE ")
    # The session and the call in one statement, whose name says so (cut at 50 characters).
    [name] = prepared_names()
    assert name.startswith("apikeys_apisession_by_token_digest__calls_call")
    # The same round trips: each PREPARE travels with its first EXECUTE.
    assert len(first) == len(second)


def test_a_token_request_for_a_call_is_one_round_trip(token_request):
    token_request()
    with CaptureQueriesContext(connection) as queries:
        assert answered(token_request())
    # What the request reads to answer (the audit row's write is not part of it).
    lookups = [q["sql"] for q in queries if "_digest" in q["sql"] or "calls_call" in q["sql"]]
    assert len(lookups) == 1, lookups
    assert lookups[0].startswith("EXECUTE apikeys_apisession_by_token_digest__calls_call")


def test_a_connection_whose_statements_were_discarded_prepares_them_again(token_request):
    assert answered(token_request())
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as DISCARD ALL or a pooler's reset would

    assert answered(token_request())
    assert any("calls_call" in name for name in prepared_names())


def test_a_process_that_forgot_what_it_prepared_still_answers(token_request):
    assert answered(token_request())
    sql._prepared.clear()  # as after a first EXECUTE that failed once its PREPARE had run

    assert answered(token_request())
    assert answered(token_request())


def test_without_prepared_statements_the_lookups_are_plain_selects(token_request, settings):
    settings.DB_PREPARED_STATEMENTS = False
    with CaptureQueriesContext(connection) as queries:
        assert answered(token_request())

    assert not [q for q in queries if q["sql"].startswith(("PREPARE", "EXECUTE"))]
