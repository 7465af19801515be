"""The key, token and call lookups run as statements prepared once per connection
(PostgreSQL only; see conftest.py): the token query takes ten times longer to plan than
to run. A GetCallURL sends its token's (or key's) lookup and its call's as one statement.
A connection whose statements are not what the process believes still answers."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys.services import create_api_key, request_token
from calls.tests.factories import CallFactory
from directory.models import Access
from directory.tests.factories import directory_group, directory_user
from shared import sql
from verba import throttling, views

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _prepared_statements_agree_afterwards(transactional_db):
    """Tests here make the process's record of prepared statements and the connection's
    disagree on purpose; the tests after them (a statement prepared inside a transaction
    cannot be prepared again there) find both empty."""
    yield
    forget_prepared_statements()


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


@pytest.mark.parametrize("with_token", [False, True], ids=["key", "key and token"])
@pytest.mark.parametrize("named_by", ["callID", "last", "ongoing,last"])
def test_with_the_shipped_throttle_a_get_call_url_is_still_one_round_trip(
    client, staff_user, settings, monkeypatch, named_by, with_token
):
    """The default throttle store spends from the key's bucket inside the statement that
    finds the key (or the token) and the call, not in a statement of its own; a request
    served from its process's lease (verba.throttling.Leases) sends the lookup alone."""
    settings.API_THROTTLE = "600/day"  # leases of 6; refills too slowly to blur the count
    settings.API_THROTTLE_STORE = "database"
    call = CallFactory(caller_number="8856")
    stored, key = create_api_key("Throttled", requires_auth=with_token)
    asked = {"action": "GetCallURL", "apiKey": key}
    if with_token:
        answer = client.get(
            "/verba/api",
            {
                "action": "RequestToken",
                "apiKey": key,
                "userName": "staff",
                "password": "pw-staff-1",
            },
        )
        asked["token"] = re.search(rb'token="(\w+)"', answer.content).group(1).decode()
    if named_by == "callID":
        asked["callID"] = str(call.pk)
    else:
        asked |= {"extension": "8856", "status": named_by}
    # As in a process that holds no lease of the key: the request spends one (and
    # prepares the statement).
    throttling.database_buckets.leases.clear()
    assert answered(client.get("/verba/api", asked))
    throttling.database_buckets.leases.clear()
    [spending] = statements_before_the_audit_row(client, monkeypatch, asked)
    assert spending.startswith("EXECUTE ")
    assert "INSERT INTO verba_throttlebucket" in prepared_text(spending)
    assert "calls_call" in prepared_text(spending)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tokens FROM verba_throttlebucket WHERE identity = %s", [f"key:{stored.pk}"]
        )
        (tokens,) = cursor.fetchone()
    # Each spend took a lease of 6 from the bucket of 600 (RequestToken's included); the
    # leases were forgotten, not handed back.
    spent = 3 if with_token else 2
    assert 600 - 6 * spent <= tokens < 600 - 6 * spent + 0.1
    # The next request is one of the lease's: the lookup alone, still one statement.
    [leased] = statements_before_the_audit_row(client, monkeypatch, asked)
    assert "verba_throttlebucket" not in leased
    assert "calls_call" in leased


def statements_before_the_audit_row(client, monkeypatch, asked: dict[str, str]) -> list[str]:
    """What a request sends before its audit row is handed over (the tests write it at
    once; in production the rows are written in batches by another thread)."""
    with CaptureQueriesContext(connection) as queries:
        handed_over = []
        recorder = views.record_api_request

        def record(*args, **kwargs):
            handed_over.append(len(queries.captured_queries))
            return recorder(*args, **kwargs)

        monkeypatch.setattr(views, "record_api_request", record)
        response = client.get("/verba/api", asked)
        monkeypatch.undo()
    assert response.status_code in (200, 404), response.content
    # Not the throttle's prune of refilled buckets: a statement a process sends every five
    # minutes, with whichever request comes along then.
    sent = [q["sql"] for q in queries][: handed_over[0]]
    return [s for s in sent if not s.startswith("DELETE FROM verba_throttlebucket")]


@pytest.mark.parametrize("named_by", ["callID", "last", "ongoing,last"])
@pytest.mark.parametrize("viewer", ["agent", "lead", "everyone's"])
def test_a_token_whose_user_sees_only_some_calls_finds_a_call_in_as_many_statements_as_one_who_sees_all(  # noqa: E501
    client, settings, monkeypatch, named_by, viewer
):
    """A scope costs no statement of its own (access.md §2, speed): the token user's scope
    is checked inside the one statement that finds the token, the key and the call, with
    the shipped throttle; a call outside the scope is not found in that statement too."""
    settings.API_THROTTLE_STORE = "database"
    agent = directory_user("agent", extensions=["8856"], password="pw-agent-1")
    lead = directory_user("lead", password="pw-lead-1")
    directory_group("Team", members=[agent], supervisors=[lead])
    everyone = directory_user("dpo", access=Access.ALL, password="pw-dpo-1")
    view = Permission.objects.get(codename="view_call", content_type__app_label="calls")
    for user in (agent, lead, everyone):
        user.user_permissions.add(view)
    user = {"agent": agent, "lead": lead, "everyone's": everyone}[viewer]
    mine = CallFactory(called_number="8856")
    stranger = CallFactory(caller_number="8857", called_number="+442071234567")
    stored, key = create_api_key("Scoped", requires_auth=True)
    _, token = request_token(stored, user)

    def asked(call, number: str) -> dict[str, str]:
        named = {"callID": str(call.pk)} if named_by == "callID" else {}
        if named_by != "callID":
            named = {"extension": number, "status": named_by}
        return {"action": "GetCallURL", "apiKey": key, "token": token, **named}

    assert answered(client.get("/verba/api", asked(mine, "8856")))  # prepares the statements
    client.get("/verba/api", asked(stranger, "8857"))
    sent = statements_before_the_audit_row(client, monkeypatch, asked(mine, "8856"))
    assert len(sent) == 1, sent
    assert sent[0].startswith("EXECUTE apikeys_apisession_by_token_digest__calls_call")
    assert "directory_extension" in prepared_text(sent[0])
    sent = statements_before_the_audit_row(client, monkeypatch, asked(stranger, "8857"))
    assert len(sent) == 1, sent
    found = client.get("/verba/api", asked(stranger, "8857"))
    assert (b'code="0"' in found.content) is (viewer == "everyone's"), found.content


def prepared_text(execute: str) -> str:
    """The text of the statement an `EXECUTE name(…)` runs."""
    name = execute.removeprefix("EXECUTE ").split("(", 1)[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [name])
        return cursor.fetchone()[0]
