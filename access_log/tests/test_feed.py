"""GET /api/v1/access-events: the access log as JSON for a SIEM, through real HTTP
requests, with a key created with --audit."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from access_log.models import AccessEvent, Kind, Surface
from access_log.services import Actor, record_access
from apikeys.services import create_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/access-events"
CALL = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")
OTHER = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALICE = Actor(surface=Surface.STAFF, user="alice", client="192.0.2.10")
CRM = Actor(surface=Surface.API, api_key="CRM", client="2001:db8::7")


@pytest.fixture
def audit_key() -> str:
    return create_api_key("SIEM", audit=True, can_query=False)[1]


@pytest.fixture
def feed(client: Client, audit_key: str):
    def get(url: str = URL, **params: str):
        return client.get(url, params, headers={"X-Api-Key": audit_key})

    return get


def test_events_come_oldest_first_in_the_documented_shape(feed):
    record_access(Kind.PLAY, ALICE, call_id=CALL, at=T0 + timedelta(minutes=1))
    record_access(Kind.SEARCH, CRM, detail={"criteria": {"anynum": ["8856"]}, "count": 3}, at=T0)

    answer = feed()

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {
        "next": None,
        "results": [
            {
                "at": "2026-03-01T09:00:00Z",
                "kind": "search",
                "call": None,
                "user": None,
                "api_key": "CRM",
                "surface": "api",
                "client": "2001:db8::7",
                "detail": {"criteria": {"anynum": ["8856"]}, "count": 3},
            },
            {
                "at": "2026-03-01T09:01:00Z",
                "kind": "play",
                "call": str(CALL),
                "user": "alice",
                "api_key": None,
                "surface": "staff",
                "client": "192.0.2.10",
                "detail": {},
            },
        ],
    }


def test_each_filter_narrows_the_events(feed):
    record_access(Kind.VIEW, ALICE, call_id=CALL, at=T0)
    record_access(Kind.DOWNLOAD, ALICE, call_id=OTHER, at=T0 + timedelta(hours=1))
    record_access(Kind.DOWNLOAD, CRM, call_id=CALL, at=T0 + timedelta(hours=2))

    def kinds_and_times(**params: str) -> list[tuple[str, str]]:
        answer = feed(**params)
        assert answer.status_code == 200, answer.content
        return [(e["kind"], e["at"][11:16]) for e in answer.json()["results"]]

    assert kinds_and_times(call=str(CALL).upper()) == [("view", "09:00"), ("download", "11:00")]
    assert kinds_and_times(user="alice") == [("view", "09:00"), ("download", "10:00")]
    assert kinds_and_times(kind="download") == [("download", "10:00"), ("download", "11:00")]
    # since is inclusive, until exclusive; a time without an offset is UTC.
    assert kinds_and_times(since="2026-03-01T10:00:00Z") == [
        ("download", "10:00"),
        ("download", "11:00"),
    ]
    assert kinds_and_times(until="2026-03-01T10:00:00") == [("view", "09:00")]
    assert kinds_and_times(user="alice", kind="download", since="2026-03-01T09:30+00:00") == [
        ("download", "10:00")
    ]


def test_pages_follow_one_another_through_next_without_gaps_or_repeats(feed):
    # Several events at the same instant: the cursor must still not skip or repeat one.
    AccessEvent.objects.bulk_create(
        AccessEvent(
            at=T0 + timedelta(seconds=n // 3),
            kind=Kind.VIEW,
            call_id=CALL,
            user=f"user{n}",
            surface=Surface.STAFF,
        )
        for n in range(25)
    )
    seen: list[str] = []
    answer = feed(page_size="4")
    pages = 0
    while True:
        body = answer.json()
        assert len(body["results"]) <= 4
        seen += [e["user"] for e in body["results"]]
        pages += 1
        if body["next"] is None:
            break
        assert body["next"].startswith("http://testserver/api/v1/access-events?")
        answer = feed(body["next"])

    assert seen == [f"user{n}" for n in range(25)]
    assert pages == 7


def test_a_page_holds_at_most_a_thousand_events(feed):
    AccessEvent.objects.bulk_create(
        AccessEvent(at=T0, kind=Kind.VIEW, call_id=CALL, surface=Surface.STAFF) for _ in range(1001)
    )

    first = feed().json()
    rest = feed(first["next"]).json()

    assert len(first["results"]) == 1000
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert feed(page_size="1001").status_code == 400


def test_a_key_without_the_audit_flag_gets_403_json(client: Client):
    record_access(Kind.VIEW, ALICE, call_id=CALL)
    for key in (
        create_api_key("CRM")[1],
        create_api_key("Recorder", can_query=False, can_ingest=True)[1],
        create_api_key("Changer", can_change=True)[1],
    ):
        answer = client.get(URL, headers={"X-Api-Key": key})

        assert answer.status_code == 403
        assert answer.json() == {
            "detail": "This API key may not read the audit feeds: they need a key created "
            "with --audit."
        }


def test_no_key_or_an_unknown_key_gets_401_json(client: Client):
    assert client.get(URL).status_code == 401
    answer = client.get(URL, headers={"X-Api-Key": str(uuid.uuid4())})

    assert answer.status_code == 401
    assert answer.json() == {"detail": "Invalid API key: it is unknown, revoked or expired."}


def test_an_audit_key_outside_its_networks_gets_403(client: Client):
    key = create_api_key("SIEM", audit=True, can_query=False, networks=["10.0.0.0/8"])[1]

    answer = client.get(URL, headers={"X-Api-Key": key}, REMOTE_ADDR="192.0.2.1")

    assert answer.status_code == 403
    assert answer.json() == {"detail": "This API key may not be used from this address."}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"call": "not-a-guid"}, "call"),
        ({"kind": "listen"}, "kind"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_a_bad_parameter_gets_400_json_naming_it(feed, params, field):
    answer = feed(**params)

    assert answer.status_code == 400
    assert list(answer.json()) == [field]
