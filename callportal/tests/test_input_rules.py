"""One verdict per value, whatever the door: the same hostile values go to every entry point
that reads a call's number, name, identifier, GUID or time span (calls/rules.py), and each
must accept or refuse them alike, and store what it accepts alike.

The doors that write a call: the ingestion API, the `import_calls` command, the admin's CSV
import, the admin's call form and PutMedia. The doors that look a call up or search: the
Business API's GetCallURL, GetCallInformation and SearchCalls, the ingestion API's list
filter and the staff call list. Everything goes through full HTTP requests (the command
through `call_command`).
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apikeys.services import create_api_key
from calls.models import Call
from calls.tests.sounds import tone_wav
from calls.tests.test_admin_calls import import_csv, no_inline_forms
from directory.models import Extension
from directory.tests.factories import directory_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The admin's user is created per test; the production hasher would make it crawl."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


GUID = "0e5b3c1e-7a4f-4c2b-9d51-3f6a2b8c9e01"
FULL_WIDTH_ONE = "\uff11"  # １: uuid.UUID and int() read it as 1
STARTED = datetime(2026, 11, 26, 10, 15, 30, tzinfo=UTC)
ENDED = datetime(2026, 11, 26, 10, 20, 45, tzinfo=UTC)


@dataclass(frozen=True)
class Value:
    """A value from outside, and what every door must make of it: the stored value, or
    None when it must be refused."""

    text: str
    stored: str | None
    label: str

    @property
    def accepted(self) -> bool:
        return self.stored is not None


def ok(text: str, stored: str | None = None, label: str = "") -> Value:
    return Value(text, text.strip() if stored is None else stored, label or repr(text)[:40])


def refused(text: str, label: str = "") -> Value:
    return Value(text, None, label or repr(text)[:40])


NUMBERS = [
    ok("8856"),
    ok(" 8856 ", label="white space around"),
    ok("+44 20 7123 4567"),
    ok("８８５６", label="full-width digits"),  # a number is text; only controls are refused
    ok("8" * 64, label="64 characters"),
    refused("8" * 65, label="65 characters"),
    refused("88\x1b56", label="ESC"),
    refused("88\x0056", label="NUL"),
    refused("88\x7f56", label="DEL"),
    refused("88\t56", label="tab inside"),
    refused("88\n56", label="line break inside"),
]
NAMES = [
    ok("Ada Lovelace"),
    ok("Zoë Ñandú 李", label="non-ASCII"),
    ok("A" * 255, label="255 characters"),
    refused("A" * 256, label="256 characters"),
    refused("Ada\x1bL", label="ESC"),
    refused("Ada\x00", label="NUL"),
    refused("Ada\tLovelace", label="tab inside"),
]
IDENTIFIERS = [
    ok("REC-000123"),
    ok("abc@pbx.example.com"),
    ok("R" * 255, label="255 characters"),
    refused("R" * 256, label="256 characters"),
    refused("REC\x1b1", label="ESC"),
    refused("REC\x001", label="NUL"),
]
GUIDS = [
    ok(GUID, stored=GUID),
    ok(GUID.upper(), stored=GUID, label="upper case"),
    ok(f" {GUID} ", stored=GUID, label="white space around"),
    refused("{" + GUID + "}", label="braces"),
    refused("urn:uuid:" + GUID, label="urn"),
    refused(GUID.replace("-", ""), label="32 bare hex digits"),
    refused(GUID[:8] + GUID[9:13] + "-" + GUID[8] + GUID[13:], label="dashes moved"),
    refused(GUID[:-1] + FULL_WIDTH_ONE, label="full-width digit"),
    refused(GUID[:-1] + "\x00", label="NUL"),
]
# Empty and blank values are a write's business only: to a lookup or a search filter an
# empty parameter is an absent one.
BLANK_NUMBERS = [refused("", label="empty"), refused("   ", label="blank")]

# The call field each kind of value is written to.
FIELD = {"number": "caller_number", "name": "caller_name", "identifier": "native_id", "id": "id"}


# --- the doors that write --------------------------------------------------------------------


def base_call(**fields: str) -> dict[str, str]:
    return {
        "id": str(uuid.uuid4()),
        "caller_number": "+442071234567",
        "caller_name": "Ada Lovelace",
        "called_number": "8856",
        "native_id": "REC-1",
        "started_at": STARTED.isoformat(),
        "ended_at": ENDED.isoformat(),
        **fields,
    }


def by_ingestion(fields: dict[str, str]) -> uuid.UUID | None:
    key = create_api_key("Recorder", can_query=False, can_ingest=True)[1]
    response = Client().post(
        "/api/v1/calls",
        json.dumps(fields),
        content_type="application/json",
        headers={"X-Api-Key": key},
    )
    assert response.status_code in (201, 400), response.content
    return uuid.UUID(response.json()["id"]) if response.status_code == 201 else None


def by_import_command(fields: dict[str, str], tmp_path) -> uuid.UUID | None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields))
    writer.writeheader()
    writer.writerow(fields)
    path = tmp_path / "calls.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    report = io.StringIO()
    call_command("import_calls", str(path), stdout=report, stderr=io.StringIO())
    if "rejected 0" not in report.getvalue():
        return None
    return Call.objects.get().pk


def by_admin_import(fields: dict[str, str], admin_client) -> uuid.UUID | None:
    import_csv(admin_client, [fields])
    return Call.objects.values_list("pk", flat=True).first()


def by_admin_form(fields: dict[str, str], admin_client) -> uuid.UUID | None:
    form = {name: value for name, value in fields.items() if not name.endswith("_at")}
    for name in ("started_at", "ended_at"):
        local = timezone.localtime(datetime.fromisoformat(fields[name]))
        form[f"{name}_0"] = local.strftime("%Y-%m-%d")
        form[f"{name}_1"] = local.strftime("%H:%M:%S")
    response = admin_client.post(
        reverse("admin:calls_call_add"), {**form, "called_name": "", **no_inline_forms()}
    )
    assert response.status_code in (200, 302)
    return (
        Call.objects.values_list("pk", flat=True).first() if response.status_code == 302 else None
    )


PUT_MEDIA_NAMES = {
    "caller_number": "srccallerid",
    "called_number": "dstcallerid",
    "caller_name": "srcname",
    "native_id": "nativeid",
}


def by_put_media(fields: dict[str, str]) -> uuid.UUID | None:
    key = create_api_key("Recorder", can_query=False, can_ingest=True)[1]
    params = {"action": "PutMedia", "apiKey": key, "responseType": "JSON"}
    params |= {PUT_MEDIA_NAMES[name]: fields[name] for name in PUT_MEDIA_NAMES}
    for name, parameter in (("started_at", "starttime"), ("ended_at", "endtime")):
        moment = datetime.fromisoformat(fields[name]).astimezone(UTC)
        params[parameter] = moment.strftime("%Y-%m-%d %H:%M:%S")
    media = SimpleUploadedFile("call.wav", tone_wav(0.1), content_type="audio/wav")
    response = Client().post(f"/verba/api?{urllib.parse.urlencode(params)}", {"media": media})
    answer = response.json()
    assert answer["code"] in (0, 1), answer
    return uuid.UUID(answer["callID"]) if answer["code"] == 0 else None


def admin(request) -> Client:
    return request.getfixturevalue("admin_client")


# Each door, given the call's fields and the test's `request` (for the fixtures it needs).
WRITERS: dict[str, Callable[..., uuid.UUID | None]] = {
    "ingestion": lambda fields, request: by_ingestion(fields),
    "import_calls": lambda fields, request: by_import_command(
        fields, request.getfixturevalue("tmp_path")
    ),
    "admin import": lambda fields, request: by_admin_import(fields, admin(request)),
    "admin form": lambda fields, request: by_admin_form(fields, admin(request)),
    "PutMedia": lambda fields, request: by_put_media(fields),
}
# The import command commits batch by batch, from a connection of its own.
MARKS = {"import_calls": [pytest.mark.django_db(transaction=True)]}
# PutMedia derives a call's id from its nativeid and start: it reads no id.
WRITTEN = [
    pytest.param(door, kind, value, id=f"{door}-{kind}-{value.label}", marks=MARKS.get(door, []))
    for door in WRITERS
    for kind, values in (
        ("number", NUMBERS + BLANK_NUMBERS),
        ("name", NAMES),
        ("identifier", IDENTIFIERS),
        ("id", GUIDS),
    )
    if not (door == "PutMedia" and kind == "id")
    for value in values
]


@pytest.mark.parametrize(("door", "kind", "value"), WRITTEN)
def test_every_door_that_writes_a_call_gives_a_value_the_same_verdict(request, door, kind, value):
    field = FIELD[kind]

    written = WRITERS[door](base_call(**{field: value.text}), request)

    if not value.accepted:
        assert written is None
        assert not Call.objects.exists()
        return
    assert written is not None, f"{value.label} was refused"
    stored = Call.objects.get(pk=written)
    assert str(getattr(stored, field)) == value.stored


@pytest.mark.parametrize(
    "door", [pytest.param(door, marks=MARKS.get(door, [])) for door in WRITERS]
)
def test_every_door_that_writes_a_call_refuses_an_end_before_the_start(request, door):
    fields = base_call(started_at=ENDED.isoformat(), ended_at=STARTED.isoformat())

    assert WRITERS[door](fields, request) is None
    assert not Call.objects.exists()


# --- the doors that look up or search ----------------------------------------------------------


def business_api(**params: str) -> int:
    key = create_api_key("CRM")[1]
    response = Client().get("/verba/api", {"apiKey": key, "responseType": "JSON", **params})
    return response.json()["code"]


def ingestion_list(number: str) -> bool:
    key = create_api_key("Recorder", can_query=False, can_ingest=True)[1]
    response = Client().get("/api/v1/calls", {"number": number}, headers={"X-Api-Key": key})
    assert response.status_code in (200, 400)
    return response.status_code == 200


def staff_list(number: str, admin_client) -> bool:
    response = admin_client.get(reverse("calls:list"), {"number": number})
    assert response.status_code in (200, 400)
    return response.status_code == 200


PERIOD = {"start": "2026-11-26 00:00", "end": "2026-11-26 23:59"}

# For each kind of value, the doors that read it; each says whether it accepted the value
# (refused is code 1 for the Business API, 400 for the others).
READS: dict[str, dict[str, Callable[..., bool]]] = {
    "number": {
        "GetCallURL extension": lambda v, _: (
            business_api(action="GetCallURL", extension=v, status="last") != 1
        ),
        "SearchCalls anynum": lambda v, _: (
            business_api(action="SearchCalls", anynum=v, **PERIOD) != 1
        ),
        "ingestion list": lambda v, _: ingestion_list(v),
        "staff list": lambda v, request: staff_list(v, admin(request)),
    },
    "name": {
        "SearchCalls anyname": lambda v, _: (
            business_api(action="SearchCalls", anyname=v, **PERIOD) != 1
        ),
    },
    "identifier": {
        "GetCallInformation nativeID": lambda v, _: (
            business_api(action="GetCallInformation", nativeID=v) != 1
        ),
        "GetCallInformation platformCallID": lambda v, _: (
            business_api(action="GetCallInformation", platformCallID=v) != 1
        ),
    },
    "id": {
        "GetCallURL callID": lambda v, _: business_api(action="GetCallURL", callID=v) != 1,
        "GetCallInformation callID": lambda v, _: (
            business_api(action="GetCallInformation", callID=v) != 1
        ),
    },
}
VALUES = {"number": NUMBERS, "name": NAMES, "identifier": IDENTIFIERS, "id": GUIDS}
LOOKUPS = [
    pytest.param(door, value, id=f"{door}-{value.label}")
    for kind, doors in READS.items()
    for door in doors
    for value in VALUES[kind]
]
DOORS = {door: read for doors in READS.values() for door, read in doors.items()}


@pytest.mark.parametrize(("door", "value"), LOOKUPS)
def test_every_door_that_looks_calls_up_gives_a_value_the_same_verdict(request, door, value):
    assert DOORS[door](value.text, request) is value.accepted


def test_a_stored_value_is_found_by_the_value_it_was_written_with():
    # Written with white space around, as a copy and paste brings it; looked up the same way.
    by_ingestion(base_call(id=GUID, called_number=" 8856 ", native_id=" REC-9 "))

    assert business_api(action="GetCallURL", extension=" 8856 ", status="last") == 0
    assert business_api(action="GetCallInformation", nativeID=" REC-9 ") == 0
    assert business_api(action="GetCallInformation", callID=f" {GUID.upper()} ") == 0


def test_searchcalls_refuses_a_period_that_ends_before_it_starts():
    answer_code = business_api(
        action="SearchCalls", start="2026-11-26 10:00", end="2026-11-25 10:00"
    )

    assert answer_code == 1


# --- The directory's extensions: the same number rule (shared/numbers.py) ----------------


def extension_form(agent, number: str) -> dict[str, object]:
    """The admin's user form for `agent`, giving the agent the extension `number`."""
    return {
        "username": agent.username,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "directory_profile-TOTAL_FORMS": "1",
        "directory_profile-INITIAL_FORMS": "1",
        "directory_profile-0-id": agent.directory_profile.pk,
        "directory_profile-0-user": agent.pk,
        "directory_profile-0-access": "own",
        "directory_profile-0-time_zone": "UTC",
        "extensions-TOTAL_FORMS": "1",
        "extensions-INITIAL_FORMS": "0",
        "extensions-0-number": number,
        "extensions-0-user": agent.pk,
    }


def extension_by_admin_form(number: str, admin_client) -> str | None:
    """The number stored when the admin's user form gives an agent this extension, or None."""
    agent = directory_user("agent")
    url = reverse("admin:auth_user_change", args=[agent.pk])
    response = admin_client.post(url, extension_form(agent, number))
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert 'class="errorlist' in response.content.decode(), "the form names its error"
    return Extension.objects.filter(user=agent).values_list("number", flat=True).first()


def extension_by_import(number: str, tmp_path) -> str | None:
    """The number stored when `import_directory` gives an agent this extension, or None."""
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"users": [{"username": "agent", "extensions": [number]}]}))
    try:
        call_command("import_directory", str(path), stdout=io.StringIO())
    except CommandError as error:
        assert "number must be text of 1 to 64 characters, without control characters" in str(error)
        return None
    return Extension.objects.values_list("number", flat=True).first()


EXTENSION_DOORS: dict[str, Callable[..., str | None]] = {
    "directory admin form": lambda number, request: extension_by_admin_form(number, admin(request)),
    "import_directory": lambda number, request: extension_by_import(
        number, request.getfixturevalue("tmp_path")
    ),
}


@pytest.mark.parametrize(
    ("door", "value"),
    [
        pytest.param(door, value, id=f"{door}-{value.label}")
        for door in EXTENSION_DOORS
        for value in NUMBERS + BLANK_NUMBERS
    ],
)
def test_every_door_that_gives_a_user_an_extension_judges_the_number_as_a_call_s(
    request, door, value
):
    # The verdicts of the doors that write a call (above): an extension no call could carry
    # would match nothing, and every number a call can carry can be owned.
    stored = EXTENSION_DOORS[door](value.text, request)

    assert stored == value.stored


def test_the_directory_admin_says_which_number_rule_an_extension_breaks(admin_client):
    agent = directory_user("agent")
    url = reverse("admin:auth_user_change", args=[agent.pk])

    page = admin_client.post(url, extension_form(agent, "88\x1b56"))

    assert page.status_code == 200
    assert "A number must be 1 to 64 characters, without control characters." in (
        page.content.decode()
    )
    assert not Extension.objects.exists()
