"""The canary: known keys, tokens and a password go through everything, and turn up nowhere.

The README's server (gunicorn with gunicorn.conf.py, logs captured as configured) is driven
with known secrets: every Business API action in the registry (actions added later too), in
every format, succeeding and failing, by GET, POST and headers; malformed requests (request
and header lines gunicorn cannot parse, undecodable charsets, a smuggled `action`, a wrong
method, a foreign Host); the ingestion API; the login pages and the admin. Then every log
line, every stored row (audit trail, sessions, keys, users), every admin page and every
answer is searched: 0 occurrences. A token may appear only in the answer that issued it, and
an unknown action only in its own answer's `type` (the contract's echo, §2.1).
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

from callportal.tests.live_gunicorn import Server, running_gunicorn
from verba.actions import REGISTRY

KEY = str(uuid.uuid4())
AUTH_KEY = str(uuid.uuid4())  # requires a token
INGEST_KEY = str(uuid.uuid4())
PASSWORD = "pw-canary-" + uuid.uuid4().hex[:12]
ADMIN = "canary-admin"
WRONG_PASSWORD = "pw-wrong-" + uuid.uuid4().hex[:12]
FORMATS = ["XML", "HTML", "TEXT", "JSON"]

SETUP = f"""
from django.contrib.auth import get_user_model
from apikeys.services import create_api_key
get_user_model().objects.create_superuser({ADMIN!r}, "admin@example.com", {PASSWORD!r})
create_api_key("Canary", key={KEY!r})
create_api_key("Canary with token", key={AUTH_KEY!r}, requires_auth=True)
create_api_key("Canary recorder", key={INGEST_KEY!r}, can_ingest=True, can_query=False)
"""


class _KeepErrors(urllib.request.HTTPErrorProcessor):
    def http_response(self, request, response):  # every status is an answer to look at
        return response

    https_response = http_response


@dataclass
class Answer:
    what: str
    status: int
    headers: str
    body: str


@dataclass
class Client:
    """A browser-like client of the server: cookies, CSRF, every answer kept."""

    server: Server
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _KeepErrors()
        )

    def send(
        self,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        request = urllib.request.Request(  # noqa: S310 - the test's own server
            self.server.base + path, data=body, headers=headers or {}, method=method
        )
        with self.opener.open(request, timeout=60) as response:
            answer = Answer(
                f"{method} {path}",
                response.status,
                str(response.headers),
                response.read().decode("utf-8", "replace"),
            )
        self.answers.append(answer)
        return answer

    def form(self, path: str, fields: dict[str, str], **kwargs) -> Answer:
        body = urllib.parse.urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
        return self.send(path, method="POST", body=body, headers=headers, **kwargs)

    def raw(self, data: bytes) -> None:
        answer = self.server.send_raw(data).decode("utf-8", "replace")
        self.answers.append(Answer(f"raw {data[:40]!r}", 0, "", answer))

    def csrf(self, path: str) -> str:
        page = self.send(path).body
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert found, page
        return found[1]


def api(client: Client, *, method: str = "GET", headers=None, **params: str) -> Answer:
    query = urllib.parse.urlencode(params)
    if method == "GET":
        return client.send(f"/verba/api?{query}", headers=headers)
    return client.form("/verba/api", params, headers=headers or {})


def token_from(answer: Answer) -> str:
    return json.loads(answer.body)["token"]


def drive_the_business_api(client: Client, call_ids: list[str]) -> set[str]:
    """Every action, every format, success and failure; returns the tokens issued."""
    issued: set[str] = set()

    def new_token(key: str) -> str:
        answer = api(
            client, action="RequestToken", apiKey=key, userName=ADMIN, password=PASSWORD,
            responseType="JSON",
        )  # fmt: skip
        token = token_from(answer)
        issued.add(token)
        return token

    token, auth_token = new_token(KEY), new_token(AUTH_KEY)
    basic = base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
    wrong_basic = base64.b64encode(f"{ADMIN}:{WRONG_PASSWORD}".encode()).decode()
    calls = iter(call_ids)
    for action in sorted(REGISTRY):
        for response_type in FORMATS:
            # Each case names a call of its own, so that DeleteCall and the like leave the
            # next cases something to find.
            everything = {
                "action": action, "responseType": response_type, "callID": next(calls),
                "extension": "8856", "status": "last", "userName": ADMIN, "password": PASSWORD,
                "start": "2020-01-01 00:00", "end": "2099-01-01 00:00",
            }  # fmt: skip
            answers = [
                api(client, apiKey=KEY, token=token, **everything),
                api(client, method="POST", apiKey=KEY, token=token, **everything),
                api(
                    client,
                    headers={"X-Api-Key": AUTH_KEY, "X-Api-Token": auth_token},
                    **everything,
                ),
                # Failures: unknown key, wrong token, repeated key, key twice, wrong password.
                api(client, apiKey=str(uuid.uuid4()), token=token, **everything),
                api(client, apiKey=KEY, token=token[::-1], **everything),
                client.send(
                    f"/verba/api?{urllib.parse.urlencode(everything)}&apiKey={KEY}&apiKey={KEY}"
                ),
                api(client, headers={"X-Api-Key": KEY}, apiKey=KEY, **everything),
                api(client, apiKey=AUTH_KEY, **{**everything, "password": WRONG_PASSWORD}),
            ]
            if action == "RequestToken":
                for answer in answers:
                    issued.update(re.findall(r"\b[A-Za-z0-9]{32}\b", answer.body))
                if response_type == "JSON":
                    for credentials in (basic, wrong_basic):
                        answer = api(
                            client, headers={"Authorization": f"Basic {credentials}"},
                            apiKey=KEY, action=action, responseType=response_type,
                        )  # fmt: skip
                        issued.update(re.findall(r"\b[A-Za-z0-9]{32}\b", answer.body))
            if action == "ReleaseToken":
                # The cases released both tokens: new ones for the actions after it.
                token, auth_token = new_token(KEY), new_token(AUTH_KEY)
    return issued


def drive_malformed_requests(client: Client, token: str) -> None:
    secrets = f"apiKey={KEY}&token={token}&password={PASSWORD}"
    line = "\r\n".join
    for raw in [
        f"GET /verba/api?action=GetCallURL {secrets} HTTP/1.1",
        f"GET /verba/api?action=GetCallURL HTTP/1.1\r\nX-Api-Key {KEY}",
        f"GET /verba/api?action=GetCallURL HTTP/1.1\r\nX-Api-Token: x\r\n {token}",
        f"GET /accounts/login/ HTTP/1.1\r\nAuthorization Basic {PASSWORD}",
        f"GET /verba/api?{secrets}&x={'8' * 9000} HTTP/1.1",
        f"GET /verba/api%3Faction%3DGetCallURL%26{secrets.replace('=', '%3D')} HTTP/1.1",
    ]:
        client.raw(line([raw, "Host: 127.0.0.1", "Connection: close", "", ""]).encode())
    client.raw(
        line(
            [f"GET /verba/api?{secrets} HTTP/1.1", f"Host: x.example?{secrets}",
             "Connection: close", "", ""]
        ).encode()
    )  # fmt: skip
    for charset in ["undefined", "rot13", "cp037"]:
        client.send(
            f"/verba/api?action=GetCallURL&{secrets}",
            headers={"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"},
        )
        client.send(
            f"/verba/api?responseType=JSON&token={token}",
            method="POST",
            body=f"action=GetCallURL&apiKey={KEY}&password={PASSWORD}".encode(),
            headers={"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"},
        )
    for smuggled in (f"apiKey={KEY}", f"token={token}", f"password={PASSWORD}"):
        action = f"GetCallURL?{smuggled}"
        answer = client.send(
            f"/verba/api?action={urllib.parse.quote(action)}&apiKey={KEY}&responseType=JSON"
        )
        # The contract (§2.1) echoes an unknown action in `type`, to the client that sent it;
        # nothing else of the answer may hold the secret.
        assert json.loads(answer.body)["type"] == action
        answer.body = answer.body.replace(json.dumps(action), '""')
    client.send(f"/verba/api?action=GetCallURL&{secrets}", method="DELETE")
    client.form(f"/verba/api?{secrets}", {f"f{n}": PASSWORD for n in range(1200)})
    client.send(
        f"/verba/api?{secrets}",
        method="POST",
        body=json.dumps({"apiKey": KEY, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )


def drive_ingestion(client: Client) -> list[str]:
    """Calls in through the ingestion API (enough for every case above); failures too."""
    ingest = {"X-Api-Key": INGEST_KEY, "Content-Type": "application/json"}
    call_ids = []
    for number in range(len(REGISTRY) * len(FORMATS) + 1):
        answer = client.send(
            "/api/v1/calls",
            method="POST",
            body=json.dumps(
                {"caller_number": f"+4420712{number:05}", "called_number": "8856",
                 "started_at": "2026-11-26T14:03:00Z", "ended_at": "2026-11-26T14:05:00Z"}
            ).encode(),
            headers=ingest,
        )  # fmt: skip
        call_ids.append(json.loads(answer.body)["id"])
    call = call_ids[-1]
    for method, path, body, headers in [
        ("POST", "/api/v1/calls", {"apiKey": KEY, "password": PASSWORD}, ingest),
        ("POST", "/api/v1/calls", {"caller_number": "1"}, {**ingest, "X-Api-Key": KEY}),
        ("PATCH", f"/api/v1/calls/{call}", {"token": PASSWORD}, ingest),
        ("GET", f"/api/v1/calls?apiKey={KEY}&password={PASSWORD}", None, ingest),
        ("GET", f"/api/v1/calls/{call}", None, {"X-Api-Key": str(uuid.uuid4())}),
    ]:
        data = None if body is None else json.dumps(body).encode()
        client.send(path, method=method, body=data, headers=headers)
    client.send(
        "/api/v1/calls",
        method="POST",
        body=f'{{"caller_name": "{KEY} {PASSWORD}'.encode(),  # cut short: a parse error
        headers=ingest,
    )
    # Answered 413 before the body is read: the connection may be cut mid-send.
    with contextlib.suppress(urllib.error.URLError):
        client.send(
            "/api/v1/calls",
            method="POST",
            body=json.dumps({"caller_name": PASSWORD * 300_000}).encode(),
            headers=ingest,
        )
    client.send(
        f"/api/v1/calls/{call}/recording",
        method="PUT",
        body=b"RIFF" + PASSWORD.encode(),
        headers={"X-Api-Key": INGEST_KEY, "Content-Type": f"text/html; charset={KEY}"},
    )
    return call_ids


def drive_the_site_and_admin(client: Client) -> None:
    for path in ("/accounts/login/", "/admin/login/"):
        client.form(
            path,
            {"csrfmiddlewaretoken": client.csrf(path), "username": ADMIN,
             "password": WRONG_PASSWORD},
            headers={"Referer": client.server.base + path},
        )  # fmt: skip
    client.form(
        "/admin/login/",
        {"csrfmiddlewaretoken": client.csrf("/admin/login/"), "username": ADMIN,
         "password": PASSWORD, "next": "/admin/"},
        headers={"Referer": client.server.base + "/admin/login/"},
    )  # fmt: skip
    assert "Log out" in client.send("/admin/").body, "the canary admin could not log in"
    for path in [
        "/calls/",
        "/admin/apikeys/apikey/",
        "/admin/apikeys/apisession/",
        "/admin/audit/apirequest/",
        "/admin/calls/call/",
        "/admin/auth/user/",
    ]:
        page = client.send(path)
        # Every row's own page too (keys, sessions), and every page of the trail.
        for link in sorted(
            set(re.findall(r'href="(/admin/apikeys/[a-z]+/\d+/change/)"', page.body))
        ):
            client.send(link)
        pages = re.findall(r'href="\?p=(\d+)"', page.body)
        for number in sorted(set(pages), key=int):
            client.send(f"{path}?p={number}")
    trail = client.send("/admin/audit/apirequest/")
    for link in re.findall(r'href="(/admin/audit/apirequest/\d+/change/)"', trail.body)[:20]:
        client.send(link)


def test_no_key_token_or_password_is_logged_stored_or_answered(tmp_path):
    with running_gunicorn(tmp_path, AUDIT_FLUSH_SECONDS="0") as server:
        server.manage("shell", "-c", SETUP)
        client = Client(server)
        call_ids = drive_ingestion(client)
        tokens = drive_the_business_api(client, call_ids)
        drive_malformed_requests(client, sorted(tokens)[0])
        drive_the_site_and_admin(client)
        stored = server.manage(
            "dumpdata", "audit", "apikeys", "auth.user", "sessions", "calls", "--indent", "1"
        )
    logs = server.logs()

    secrets = {"key": KEY, "key requiring a token": AUTH_KEY, "ingest key": INGEST_KEY,
               "password": PASSWORD, "wrong password": WRONG_PASSWORD}  # fmt: skip
    # RequestToken issued tokens in every format, by GET, POST and headers.
    assert len(tokens) >= 3 * len(FORMATS)
    # What was searched is really there: an access line per answer, and every stored row.
    assert logs.count('"GET /verba/api ') >= len(REGISTRY) * len(FORMATS) * 5
    assert "Invalid request from ip=" in logs
    assert '"model": "audit.apirequest"' in stored
    for name, secret in secrets.items():
        assert secret not in logs, f"the {name} is in the logs"
        assert secret not in stored, f"the {name} is stored"
        for answer in client.answers:
            assert secret not in answer.body + answer.headers, f"the {name} is in {answer.what}"
    for token in tokens:
        assert token not in logs, "a token is in the logs"
        assert token not in stored, "a token is stored"
        # Only in the RequestToken answer that issued it.
        issuing = [answer for answer in client.answers if token in answer.body + answer.headers]
        assert len(issuing) <= 1, f"a token is in {[answer.what for answer in issuing]}"
        for answer in issuing:
            assert "RequestToken" in answer.body or answer.body == f"{token}\n", answer.what
