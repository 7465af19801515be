"""Writes are scoped too: a call outside the writer's scope does not exist for any write
(access.md §2, docs/access.md "Writes").

The office of test_call_scopes: Alice's desk 8856 moved to Bob, Carol supervises Sales,
Dave is in Support, the DPO sees everything, Nina nothing, root is a superuser, and the
Support keys see Dave's calls only. For every write of the Business API and of the
ingestion API, a call outside the writer's scope answers byte for byte as an unknown call
and nothing in the database changes.
"""

from __future__ import annotations

import urllib.parse
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict

from apikeys.models import ApiKey
from apikeys.services import create_api_key, request_token
from callportal.tests import test_call_scopes as scopes
from calls.models import Call, Marker, MetadataValue
from calls.tests.sounds import tone_wav

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

office = scopes.office
SEES = scopes.SEES
unknown = scopes.unknown
code_of = scopes.code_of

# Who writes without a token: a key limited to Support, which may change calls.
SUPPORT_SEES = {"dave_call"}


def database() -> list[dict[str, Any]]:
    """Every call, marker and metadata value, with the recording's bytes: what a write
    outside the scope must leave exactly as it was."""
    rows: list[dict[str, Any]] = []
    for call in Call.objects.order_by("pk"):
        row = model_to_dict(call, exclude=["recording"])
        row["recording"] = call.recording.name
        row["recording_bytes"] = call.recording.open("rb").read() if call.recording else b""
        call.recording.close()
        rows.append(row)
    rows += [model_to_dict(m) for m in Marker.objects.order_by("pk")]
    rows += [model_to_dict(v) for v in MetadataValue.objects.order_by("pk")]
    return rows


def write_actions(call: Call) -> dict[str, dict[str, str]]:
    """One request per Business API write that names a call, each naming it its own way."""
    return {
        "KeepCall": {"callID": str(call.pk)},
        "KeepCall unmark": {"callID": str(call.pk), "unmark": "1"},
        "DeleteCall": {"nativeID": call.native_id},
        "DeleteCall by id": {"cid": str(call.pk)},
        "AttachMetaData": {"callID": str(call.pk), "ticket": "T-1"},
        "AttachMetaData clearing": {"ccdr_id": str(call.pk), "ticket": ""},
        "AddMarker": {"callID": str(call.pk), "mname": "Check", "mstart": "0.6", "mend": "0.8"},
        "AddMarker over another": {
            "callID": str(call.pk),
            "mname": "Greeting",
            "mstart": "0",
            "mend": "0.5",
        },
    }


def send(client, key: str, token: str | None, label: str, params: dict[str, str]):
    query = {"action": label.split()[0], "apiKey": key, **params}
    if token:
        query["token"] = token
    return client.get("/verba/api", query)


def writers(office) -> list[tuple[str, str, str | None, set[str]]]:
    """(who, key, token, the calls they see): each token user of the office through the
    key that may change calls, and the Support key without a token."""
    support = create_api_key("Support writer", groups=["Support"], can_change=True)[1]
    found = [(viewer, office["key"], office["tokens"][viewer], SEES[viewer]) for viewer in SEES]
    return [*found, ("support key", support, None, SUPPORT_SEES)]


def test_every_business_api_write_outside_the_scope_answers_as_unknown_and_changes_nothing(
    client, office
):
    for who, key, token, sees in writers(office):
        for name, call in office["calls"].items():
            if name in sees:
                continue
            ghost_requests = write_actions(unknown())
            for label, params in write_actions(call).items():
                before = database()

                answer = send(client, key, token, label, params)
                ghost = send(client, key, token, label, ghost_requests[label])

                assert code_of(answer) == 2, (who, name, label, answer.content)
                assert answer.content == ghost.content, (who, name, label)
                assert database() == before, (who, name, label)


def test_the_same_writes_inside_the_scope_succeed(client, office):
    # The other side of the test above: the refusals come from the scope, not the requests.
    for index, (who, key, token, sees) in enumerate(writers(office)):
        for name in sorted(sees):
            call = office["calls"][name]
            for label, params in write_actions(call).items():
                if label.startswith("DeleteCall") or label == "AddMarker over another":
                    continue
                if label == "AddMarker":
                    start = 1 + index / 10
                    params = {
                        **params,
                        "mname": who,
                        "mstart": f"{start:.2f}",
                        "mend": f"{start + 0.05:.2f}",
                    }
                answer = send(client, key, token, label, params)
                assert code_of(answer) == 0, (who, name, label, answer.content)


# --- PutMedia ------------------------------------------------------------------------------


@pytest.fixture
def recorder(office) -> str:
    """A key that may upload (PutMedia); the office's users may add and change calls."""
    plaintext = create_api_key("Recorder", can_ingest=True)[1]
    add = Permission.objects.get(content_type__app_label="calls", codename="add_call")
    for user in office["users"].values():
        user.user_permissions.add(add)
    return plaintext


def put_media(client, key: str, token: str | None, call: Call, **changes: str):
    """PutMedia of `call`'s nativeid and start (as an upload of it again would send)."""
    params = {
        "action": "PutMedia",
        "apiKey": key,
        "nativeid": call.native_id,
        "starttime": call.started_at.strftime("%Y-%m-%d %H:%M:%S.000"),
        "endtime": (call.started_at + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"),
        "srccallerid": call.caller_number,
        "dstcallerid": call.called_number,
        **changes,
    }
    if token:
        params["token"] = token
    upload = SimpleUploadedFile("call.wav", tone_wav(0.3, frequency=880.0), "audio/wav")
    return client.post(f"/verba/api?{urllib.parse.urlencode(params)}", {"media": upload})


def put_writers(office, recorder: str) -> list[tuple[str, str, str | None, set[str]]]:
    key = ApiKey.objects.get(name="Recorder")
    tokens = {name: request_token(key, user)[1] for name, user in office["users"].items()}
    support = create_api_key("Support recorder", groups=["Support"], can_ingest=True)[1]
    found = [(viewer, recorder, tokens[viewer], SEES[viewer]) for viewer in SEES]
    return [*found, ("support key", support, None, SUPPORT_SEES)]


def test_put_media_of_a_call_outside_the_scope_answers_as_for_an_unknown_one_and_changes_nothing(
    client, office, recorder
):
    # Its nativeid and start match no call the writer sees, so it would create the call;
    # the call it would create is outside the writer's scope too (the same numbers at the
    # same start), which is refused exactly as for a nativeid no call has.
    for who, key, token, sees in put_writers(office, recorder):
        for name, call in office["calls"].items():
            if name in sees:
                continue
            ghost_call = Call(
                native_id="no-such-native",
                started_at=call.started_at,
                caller_number=call.caller_number,
                called_number=call.called_number,
            )
            before = database()

            answer = put_media(client, key, token, call)
            ghost = put_media(client, key, token, ghost_call)

            assert code_of(answer) == 6, (who, name, answer.content)
            assert answer.content == ghost.content, (who, name)
            assert database() == before, (who, name)


def test_put_media_matching_a_call_outside_the_scope_creates_the_writer_s_own_call(
    client, office, recorder
):
    # Carol owns 8860. An upload of hers that happens to share Dave's call's nativeid and
    # start matches nothing she sees: it creates her call, as it would if Dave's did not
    # exist, and Dave's call is untouched.
    carol_token = dict((w, t) for w, _, t, _ in put_writers(office, recorder))["carol"]
    dave_call = office["calls"]["dave_call"]
    others_before = database()

    answer = put_media(client, recorder, carol_token, dave_call, srccallerid="8860")

    assert code_of(answer) == 0, answer.content
    created = Call.objects.get(
        pk=answer.content.split(b"<CallID>")[1].split(b"</CallID>")[0].decode()
    )
    assert created.caller_number == "8860"
    assert created.native_id == dave_call.native_id
    assert [row for row in database() if row.get("id") != created.pk] == others_before
    # In a world without Dave's call the same upload answers the same bytes.
    Call.objects.filter(pk__in=[created.pk, dave_call.pk]).delete()
    assert put_media(client, recorder, carol_token, dave_call, srccallerid="8860").content == (
        answer.content
    )


def test_put_media_may_not_create_a_call_outside_the_writer_s_scope(client, office, recorder):
    tokens = {w: t for w, _, t, _ in put_writers(office, recorder)}
    stranger = Call(
        native_id="new-one",
        started_at=scopes.MOVED,
        caller_number="+447000",
        called_number="+447001",
    )

    for who in ("alice", "bob", "carol", "nina"):
        answer = put_media(client, recorder, tokens[who], stranger)
        assert code_of(answer) == 6, (who, answer.content)
        assert b"may store media only of calls they may see" in answer.content
    assert not Call.objects.filter(native_id="new-one").exists()
    for who in ("dpo", "root"):
        answer = put_media(client, recorder, tokens[who], stranger, nativeid=f"new-{who}")
        assert code_of(answer) == 0, (who, answer.content)


def test_put_media_may_not_move_a_call_out_of_the_writer_s_scope(client, office, recorder):
    tokens = {w: t for w, _, t, _ in put_writers(office, recorder)}
    carol_call = office["calls"]["carol_call"]
    before = database()

    answer = put_media(client, recorder, tokens["carol"], carol_call, srccallerid="+447000")

    assert code_of(answer) == 6, answer.content
    assert database() == before
    assert code_of(put_media(client, recorder, tokens["carol"], carol_call)) == 0


# --- The ingestion API ---------------------------------------------------------------------


def ingest(client, key: str, method: str, path: str, body: Any = None, **extra: Any):
    return getattr(client, method)(
        path, body, content_type="application/json", headers={"X-Api-Key": key}, **extra
    )


def test_ingestion_writes_outside_a_group_key_s_groups_answer_as_for_an_unknown_call(
    client, office
):
    key = office["support"]  # limited to Support: sees Dave's calls only
    for name, call in office["calls"].items():
        if name in SUPPORT_SEES:
            continue
        ghost_id = str(uuid.uuid4())
        bodies = {
            "an update of one field": {"ended_at": call.started_at.isoformat()},
            "a takeover with Dave's number": {
                "caller_number": "8870",
                "called_number": "+449000",
                "started_at": scopes.MOVED.isoformat(),
            },
            "a copy of the call": {
                "caller_number": call.caller_number,
                "called_number": call.called_number,
                "started_at": call.started_at.isoformat(),
            },
        }
        for label, body in bodies.items():
            before = database()
            answers = [
                (
                    ingest(client, key, "post", "/api/v1/calls", {"id": str(call.pk), **body}),
                    ingest(client, key, "post", "/api/v1/calls", {"id": ghost_id, **body}),
                ),
                (
                    ingest(client, key, "patch", f"/api/v1/calls/{call.pk}", body),
                    ingest(client, key, "patch", f"/api/v1/calls/{ghost_id}", body),
                ),
                (
                    client.put(
                        f"/api/v1/calls/{call.pk}/recording",
                        tone_wav(0.2),
                        content_type="audio/wav",
                        headers={"X-Api-Key": key},
                    ),
                    client.put(
                        f"/api/v1/calls/{ghost_id}/recording",
                        tone_wav(0.2),
                        content_type="audio/wav",
                        headers={"X-Api-Key": key},
                    ),
                ),
            ]
            for answer, ghost in answers:
                assert answer.status_code == ghost.status_code, (name, label)
                assert answer.status_code in (400, 404), (name, label, answer.content)
                assert answer.content == ghost.content, (name, label)
            assert database() == before, (name, label)
            assert not Call.objects.filter(pk=ghost_id).exists()


def test_a_group_key_creates_and_updates_only_calls_of_its_groups(client, office):
    key = office["support"]
    dave_call = office["calls"]["dave_call"]
    outside = {
        "caller_number": "+447000",
        "called_number": "+447001",
        "started_at": scopes.MOVED.isoformat(),
    }
    before = database()

    refused = ingest(client, key, "post", "/api/v1/calls", outside)
    moved_out = ingest(
        client, key, "patch", f"/api/v1/calls/{dave_call.pk}", {"caller_number": "+447000"}
    )
    replaced = ingest(
        client, key, "post", "/api/v1/calls", {"id": str(dave_call.pk), "caller_number": "+447000"}
    )

    for answer in (refused, moved_out, replaced):
        assert answer.status_code == 403, answer.content
        assert answer.json() == {
            "detail": "This key may write only calls of its groups: a number of the call "
            "must belong to one of their members or supervisors at the call's start."
        }
    assert database() == before
    created = ingest(client, key, "post", "/api/v1/calls", {**outside, "caller_number": "8870"})
    updated = ingest(
        client,
        key,
        "post",
        "/api/v1/calls",
        {"id": str(dave_call.pk), "called_name": "Dave's client"},
    )
    assert (created.status_code, updated.status_code) == (201, 200)


def test_a_key_without_groups_still_writes_any_call_by_its_id(client, office):
    system = create_api_key("PBX connector", can_ingest=True)[1]
    alice_call = office["calls"]["alice_call"]
    chosen = str(uuid.uuid4())

    updated = ingest(
        client,
        system,
        "post",
        "/api/v1/calls",
        {"id": str(alice_call.pk), "called_name": "Reception"},
    )
    created = ingest(
        client,
        system,
        "post",
        "/api/v1/calls",
        {
            "id": chosen,
            "caller_number": "+447000",
            "called_number": "+447001",
            "started_at": scopes.MOVED.isoformat(),
        },
    )

    assert (updated.status_code, created.status_code) == (200, 201)
    assert created.json()["id"] == chosen
