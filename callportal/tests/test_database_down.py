"""While the database is down, staff pages and the admin say 503 "try again" with the site's
own page, as the APIs answer code 9 / 503, never a 500 (callportal/error_pages.py).

The database is really unreachable for the request: PostgreSQL is pointed at a closed port,
SQLite at a directory that does not exist.
"""

from contextlib import contextmanager

import pytest
from django.db import OperationalError, connections
from django.test import Client

from callportal.tests.live_gunicorn import free_port
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db

CALL_ID = "87a9902f-83b3-519c-8621-d728e25f58ff"
UNAVAILABLE_TITLE = b"<title>Temporarily unavailable \xc2\xb7 callportal</title>"


def forget_pool(connection) -> None:
    """Close the connection pool's connections (PostgreSQL's default), so the next
    connection is made afresh with the settings as they are now."""
    if "POOL_OPTIONS" in connection.settings_dict:
        from dj_db_conn_pool.core import pool_container

        pool = pool_container.pop(connection.alias, None)
        if pool is not None:
            pool.dispose()


@contextmanager
def database_down():
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    forget_pool(connection)
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = str(free_port())  # nothing listens there
    else:
        connection.settings_dict["NAME"] = "/nonexistent-directory/callportal.sqlite3"
    try:
        yield
    finally:
        connection.close()
        forget_pool(connection)
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def client_for(user) -> Client:
    # The answer a browser would get, not the exception.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def assert_site_503(response):
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Retry-After"] == "5"
    assert UNAVAILABLE_TITLE in response.content


STAFF_PAGES = [
    "/",
    "/calls/",
    f"/calls/{CALL_ID}/",
    f"/verba/gwtCallDetail.do?ccdrId={CALL_ID}",
    "/verba/gwtCallSearch.do?p_phone_number=8856",
]
ADMIN_PAGES = [
    "/admin/",
    "/admin/calls/call/",
    f"/admin/calls/call/{CALL_ID}/change/",
    "/admin/apikeys/apikey/",
    "/admin/audit/apirequest/",
]


# One test per group: each test that really takes the database away needs a test database
# without the usual wrapping transaction, which is slow to clean up.
@pytest.mark.django_db(transaction=True)
def test_staff_pages_are_a_503_page_while_the_database_is_down_and_come_back(staff_user):
    CallFactory(id=CALL_ID, called_number="8856")
    client = client_for(staff_user)
    assert [client.get(path).status_code for path in STAFF_PAGES] == [200, 200, 200, 200, 302]

    with database_down():
        responses = [client.get(path) for path in STAFF_PAGES]

    for response in responses:
        assert_site_503(response)
    assert client.get("/calls/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_admin_pages_are_a_503_page_while_the_database_is_down(admin_user):
    CallFactory(id=CALL_ID)
    client = client_for(admin_user)
    assert [client.get(path).status_code for path in ADMIN_PAGES] == [200] * len(ADMIN_PAGES)

    with database_down():
        responses = [client.get(path) for path in ADMIN_PAGES]

    for response in responses:
        assert_site_503(response)


@pytest.mark.django_db(transaction=True)
def test_logging_in_is_a_503_page_while_the_database_is_down(staff_user):
    client = Client(raise_request_exception=False)

    with database_down():
        responses = [
            client.post(path, {"username": "staff", "password": "pw-staff-1"})
            for path in ("/accounts/login/", "/admin/login/")
        ]

    for response in responses:
        assert_site_503(response)


@pytest.fixture
def failing_middleware(monkeypatch):
    """An error before any view: the session middleware raises what it is given."""

    def fail_with(exc: Exception) -> None:
        def process_request(self, request):
            raise exc

        monkeypatch.setattr(
            "django.contrib.sessions.middleware.SessionMiddleware.process_request",
            process_request,
        )

    return fail_with


def test_an_error_before_the_business_api_is_code_9_in_the_requested_format(failing_middleware):
    failing_middleware(OperationalError("connection refused"))

    response = Client(raise_request_exception=False).get(
        "/verba/api", {"action": "GetCallURL", "responseType": "JSON"}
    )

    assert response.status_code == 503
    assert response.json()["code"] == 9
    assert response["Retry-After"] == "5"


def test_an_error_before_the_ingestion_api_is_json(failing_middleware):
    failing_middleware(OperationalError("connection refused"))
    down = Client(raise_request_exception=False).get("/api/v1/calls")
    failing_middleware(ZeroDivisionError())
    broken = Client(raise_request_exception=False).get("/api/v1/calls")

    assert (down.status_code, down["Content-Type"]) == (503, "application/json")
    assert (broken.status_code, broken["Content-Type"]) == (500, "application/json")


def test_any_other_error_on_a_site_page_is_the_sites_500_page(failing_middleware):
    failing_middleware(ZeroDivisionError())

    response = Client(raise_request_exception=False).get("/calls/")

    assert response.status_code == 500
    assert b"<title>Something went wrong \xc2\xb7 callportal</title>" in response.content
