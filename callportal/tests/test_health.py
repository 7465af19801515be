"""The load balancer's probes: /healthz (process up) and /readyz (database reachable)."""

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_away(monkeypatch):
    """Every new connection attempt fails, as when the database server is down."""
    from django.db import connection

    def refuse(self):
        raise OperationalError("could not connect to server: Connection refused")

    connection.close()
    monkeypatch.setattr(BaseDatabaseWrapper, "connect", refuse)


def test_healthz_answers_ok_without_asking_the_database(client):
    from django.db import connection

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert len(queries) == 0


@pytest.mark.django_db(transaction=True)
def test_healthz_stays_ok_while_the_database_is_away(client, database_away):
    assert client.get("/healthz").status_code == 200


def test_readyz_answers_ready_when_the_database_answers(client):
    response = client.get("/readyz")
    assert (response.status_code, response.content) == (200, b"ready\n")
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_readyz_answers_503_while_the_database_is_away(client, database_away):
    response = client.get("/readyz")
    assert (response.status_code, response.content) == (503, b"database unavailable\n")


def test_probes_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
