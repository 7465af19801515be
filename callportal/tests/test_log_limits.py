"""A foreign Host header is logged once per client address per minute, without a traceback."""

import logging
import secrets
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone


def _address() -> str:
    # The filter remembers addresses for a minute: each test uses addresses of its own.
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def _refused_host_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django.security.DisallowedHost"]


@pytest.mark.django_db
def test_a_foreign_host_is_logged_once_per_address_per_minute_without_a_traceback(caplog):
    client = Client()
    one, other = _address(), _address()
    caplog.set_level(logging.INFO)

    for address in (one, one, one, other, one):
        response = client.get("/", HTTP_HOST="evil.example", REMOTE_ADDR=address)
        assert response.status_code == 400

    lines = _refused_host_lines(caplog)
    assert len(lines) == 2
    assert [one in r.getMessage() for r in lines] == [True, False]
    assert all(r.exc_info is None and not r.exc_text for r in lines)
    assert "evil.example" in lines[0].getMessage()

    caplog.clear()
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        client.get("/", HTTP_HOST="evil.example", REMOTE_ADDR=one)
    assert len(_refused_host_lines(caplog)) == 1
