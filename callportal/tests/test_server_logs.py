"""Nothing the server logs holds an API key, token, password or user name.

gunicorn quotes a request line or header line it cannot parse in full, and its access log
writes the decoded path; Django logs messages and tracebacks. Every handler carries the
scrub_secrets filter (callportal/log_scrubbing.py); these tests start the README's server
and send it raw bytes, then read its logs as configured.
"""

import base64
import logging
import uuid

import pytest
from django.conf import settings

from callportal.log_scrubbing import ScrubSecrets, scrub
from callportal.tests.live_gunicorn import running_gunicorn

KEY = str(uuid.uuid4())
TOKEN = uuid.uuid4().hex
PASSWORD = "pw-" + uuid.uuid4().hex[:10]
USER = "user-" + uuid.uuid4().hex[:8]
SECRETS = (KEY, TOKEN, PASSWORD, USER)
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def request(line: str, *headers: str) -> bytes:
    return "\r\n".join([line, "Host: 127.0.0.1", *headers, "Connection: close", "", ""]).encode()


MALFORMED = [
    # An unencoded space before apiKey=: the request line has four parts.
    request(f"GET /verba/api?action=GetCallURL apiKey={KEY}&token={TOKEN} HTTP/1.1"),
    request(f"GET /verba/api?userName={USER} password={PASSWORD} HTTP/1.1"),
    # Header lines without their colon.
    request("GET /verba/api?action=GetCallURL HTTP/1.1", f"X-Api-Key {KEY}"),
    request("GET /verba/api?action=GetCallURL HTTP/1.1", f"X-Api-Token {TOKEN}"),
    request("GET /accounts/login/ HTTP/1.1", f"Authorization Basic {BASIC}"),
    # A continuation line (obsolete folding) carrying the token.
    request("GET /verba/api HTTP/1.1", "X-Api-Token: x", f" {TOKEN}"),
]

WELL_FORMED = [
    # A control character in the request line (gunicorn passes it on).
    request(f"GET /verba/api?apiKey={KEY}\x01 HTTP/1.1"),
    # Secrets in the query string: the access log writes the path only.
    request(f"GET /verba/api?action=GetCallURL&apiKey={KEY}&token={TOKEN} HTTP/1.1"),
    # A client that encoded its whole URL: the decoded path holds the secrets.
    request(
        f"GET /verba/api%3Faction%3DRequestToken%26apiKey%3D{KEY}%26password%3D{PASSWORD} HTTP/1.1"
    ),
    request(f"GET /admin/%3FuserName={USER}&password={PASSWORD} HTTP/1.1"),
    # A Host header Django refuses, logged by django.security with the header's value.
    request("GET /verba/api HTTP/1.1", f"X-Forwarded-Host: x?apiKey={KEY}").replace(
        b"Host: 127.0.0.1", f"Host: evil.example?apiKey={KEY}&password={PASSWORD}".encode()
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_gunicorn(tmp_path_factory.mktemp("server_logs")) as server:
        yield server


def test_gunicorns_error_log_withholds_malformed_request_and_header_lines(server):
    for data in MALFORMED:
        answer = server.send_raw(data)
        assert answer.startswith(b"HTTP/1.1 400 ")
        # Nor does gunicorn's error page quote the line back.
        for secret in SECRETS:
            assert secret.encode() not in answer

    logs = server.wait_for_log(
        lambda text: text.count("Invalid request from ip=") == len(MALFORMED)
    )

    for secret in SECRETS:
        assert secret not in logs
    assert "Invalid HTTP Header: (" in logs  # what went wrong is still logged


def test_the_access_log_and_djangos_log_hold_no_secret_of_well_formed_requests(server):
    for data in WELL_FORMED:
        assert server.send_raw(data).startswith(b"HTTP/1.1 ")

    logs = server.wait_for_log(
        lambda text: "DisallowedHost" in text and text.count('"GET /admin/') == 1
    )

    for secret in SECRETS:
        assert secret not in logs
    assert "apiKey=********" in logs  # the lines are there, blanked


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (
            f"GET /verba/api?action=GetCallURL&apiKey={KEY}&token={TOKEN} HTTP/1.1",
            "action=GetCallURL",
        ),
        (
            f"/verba/api?action=GetCallURL%3FapiKey%3D{KEY}%26token%3D{TOKEN}",
            "GetCallURL%3FapiKey%3D",
        ),
        (f"password={PASSWORD}&userName={USER}", "password="),
        (f"Invalid HTTP Header: 'X-Api-Key {KEY}'", "X-Api-Key"),
        (f"Authorization: Basic {BASIC}\r\nHost: x", "Host: x"),
        (f"Cookie: sessionid={KEY}; csrftoken={TOKEN}", "Cookie"),
        (f"{{'HTTP_X_API_TOKEN': '{TOKEN}', 'QUERY_STRING': 'apiKey={KEY}'}}", "QUERY_STRING"),
        (f'{{"password": "{PASSWORD}", "userName": "{USER}"}}', '"password": "'),
    ],
)
def test_scrub_blanks_secret_values_and_keeps_the_rest(line, kept):
    scrubbed = scrub(line)

    for secret in SECRETS:
        assert secret not in scrubbed
    assert kept in scrubbed


def test_scrub_leaves_ordinary_lines_alone():
    line = "Business API answered 9: database error OperationalError; authorization is fine"
    assert scrub(line) == line


def test_djangos_log_handlers_all_scrub(caplog):
    configured = settings.LOGGING
    for name, handler in configured["handlers"].items():
        assert "scrub_secrets" in handler.get("filters", []), name
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Bad: %s", (f"/x?apiKey={KEY}",), None
    )
    try:
        raise ValueError(f"token={TOKEN}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()

    ScrubSecrets().filter(record)

    text = logging.Formatter().format(record)
    assert KEY not in text and TOKEN not in text
    assert "ValueError: token=********" in text
