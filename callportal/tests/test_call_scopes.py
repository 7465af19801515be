"""Who may see which call, on every surface, as every kind of user (access.md §2).

The office: desk 8856 belonged to Alice until MOVED, then to Bob; both are in Sales, which
Carol supervises; Dave is in Support; the DPO sees everything, Nina nothing, root is a
superuser, and a key limited to Support sees Dave's calls only. Outside a viewer's scope a
call does not exist: each surface answers exactly (byte for byte) as for an unknown call.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone

from apikeys.services import create_api_key, request_token
from calls.models import Call, Marker, MetadataField
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav
from directory.models import Access
from directory.tests.factories import directory_group, directory_user, without_csrf

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

NOW = timezone.now().replace(microsecond=0)
MOVED = NOW - timedelta(days=10)

# Who sees which of the office's calls.
SEES = {
    "alice": {"alice_call"},
    "bob": {"bob_call"},
    "carol": {"alice_call", "bob_call", "carol_call"},
    "dpo": {"alice_call", "bob_call", "carol_call", "dave_call", "stranger_call"},
    "nina": set(),
    "root": {"alice_call", "bob_call", "carol_call", "dave_call", "stranger_call"},
}
STAFF_VIEWERS = ["alice", "bob", "carol", "dpo", "root"]


@pytest.fixture
def office(django_user_model):
    alice = directory_user("alice", extensions=[("8856", None, MOVED)])
    bob = directory_user("bob", extensions=[("8856", MOVED, None)])
    carol = directory_user("carol", extensions=["8860"])
    dave = directory_user("dave", extensions=["8870"])
    directory_user("dpo", access=Access.ALL)
    directory_user("nina", access=Access.NONE, extensions=["8880"])
    django_user_model.objects.create_superuser("root")
    directory_group("Sales", members=[alice, bob], supervisors=[carol])
    directory_group("Support", members=[dave])
    users = {u.username: u for u in django_user_model.objects.all()}
    change = Permission.objects.filter(
        content_type__app_label="calls", codename__in=["view_call", "change_call", "delete_call"]
    )
    for user in users.values():
        user.user_permissions.add(*change)
    calls = {
        "alice_call": CallFactory(
            caller_number="8856", called_number="+441000", started_at=MOVED - timedelta(days=1)
        ),
        "bob_call": CallFactory(
            caller_number="+442000", called_number="8856", started_at=MOVED + timedelta(days=1)
        ),
        "carol_call": CallFactory(caller_number="8860", called_number="+443000", started_at=MOVED),
        "dave_call": CallFactory(caller_number="8870", called_number="+444000", started_at=MOVED),
        "stranger_call": CallFactory(
            caller_number="+445000", called_number="+446000", started_at=MOVED
        ),
    }
    for call in calls.values():
        call.recording.save(f"{call.pk}.wav", ContentFile(tone_wav(seconds=1.0)), save=False)
        call.recording_content_type = "audio/wav"
        call.save()
        Marker.objects.create(call=call, name="Greeting", start_ms=0, end_ms=500)
    MetadataField.objects.create(identifier="ticket", label="Ticket")
    key, plaintext = create_api_key("Portal", can_change=True)
    support = create_api_key("Support desk", groups=["Support"], can_ingest=True)[1]
    tokens = {name: request_token(key, user)[1] for name, user in users.items()}
    return {"users": users, "calls": calls, "key": plaintext, "tokens": tokens, "support": support}


def unknown() -> Call:
    """An unsaved call: what every surface says of a call that does not exist."""
    return Call(id=uuid.uuid4(), native_id="no-such-native", platform_call_id="no-such-platform")


# --- Staff pages ---------------------------------------------------------------------------


def staff_urls(call: Call) -> list[str]:
    return [
        f"/calls/{call.pk}/",
        f"/calls/{call.pk}/recording",
        f"/calls/{call.pk}/download",
        f"/calls/{call.pk}/waveform.png",
        f"/verba/gwtCallDetail.do?ccdrId={call.pk}",
    ]


@pytest.mark.parametrize("viewer", STAFF_VIEWERS)
def test_the_staff_list_shows_exactly_the_calls_in_the_viewer_s_scope(client, office, viewer):
    client.force_login(office["users"][viewer])

    page = client.get("/calls/").content.decode()
    searched = client.get("/calls/", {"number": "8856"}).content.decode()

    listed = set(re.findall(r'href="/calls/([0-9a-f-]{36})/"', page))
    expected = {str(office["calls"][name].pk) for name in SEES[viewer]}
    assert listed == expected
    found = set(re.findall(r'href="/calls/([0-9a-f-]{36})/"', searched))
    assert found == expected & {str(office["calls"][n].pk) for n in ("alice_call", "bob_call")}


@pytest.mark.parametrize("viewer", STAFF_VIEWERS)
def test_the_staff_list_s_part_name_and_recording_searches_stay_in_the_viewer_s_scope(
    client, office, viewer
):
    Call.objects.update(caller_name="Pat Doe")
    client.force_login(office["users"][viewer])

    def found(params: dict[str, str]) -> set[str]:
        page = client.get("/calls/", params).content.decode()
        return set(re.findall(r'href="/calls/([0-9a-f-]{36})/"', page))

    expected = {str(office["calls"][name].pk) for name in SEES[viewer]}
    desk = {str(office["calls"][n].pk) for n in ("alice_call", "bob_call")}
    assert found({"number_part": "44"}) == expected  # every call has a +44 number
    assert found({"number_part": "885"}) == expected & desk
    assert found({"name": "pat"}) == expected
    assert found({"recording": "with"}) == expected


@pytest.mark.parametrize("viewer", STAFF_VIEWERS)
def test_each_call_page_recording_waveform_and_deep_link_opens_only_in_scope(
    client, office, viewer
):
    client.force_login(office["users"][viewer])
    for name, call in office["calls"].items():
        for url in staff_urls(call):
            answer = client.get(url)
            if name in SEES[viewer]:
                assert answer.status_code == 200, (viewer, url)
            else:
                ghost = client.get(url.replace(str(call.pk), str(unknown().pk)))
                assert answer.status_code == ghost.status_code == 404, (viewer, url)
                assert without_csrf(answer.content) == without_csrf(ghost.content)
                assert call.caller_number.encode() not in answer.content


def test_an_agent_whose_number_moved_sees_her_calls_not_the_new_owner_s(client, office):
    alice_call, bob_call = office["calls"]["alice_call"], office["calls"]["bob_call"]
    client.force_login(office["users"]["alice"])

    assert client.get(f"/calls/{alice_call.pk}/").status_code == 200
    assert client.get(f"/calls/{bob_call.pk}/").status_code == 404


def test_access_none_may_not_open_any_staff_page(client, office):
    client.force_login(office["users"]["nina"])
    for url in ["/calls/", *staff_urls(office["calls"]["stranger_call"])]:
        assert client.get(url).status_code == 403, url


def test_the_home_page_lists_only_ongoing_calls_in_scope(client, office):
    started = timezone.now() - timedelta(minutes=1)
    ongoing_alice = CallFactory(
        caller_number="8860", called_number="+4401", started_at=started, ended_at=None
    )
    ongoing_other = CallFactory(
        caller_number="+449999", called_number="+4402", started_at=started, ended_at=None
    )
    client.force_login(office["users"]["carol"])

    page = client.get("/").content.decode()

    assert str(ongoing_alice.pk) in page
    assert str(ongoing_other.pk) not in page


# --- The admin, for staff who are not superusers ---------------------------------------------


def test_the_admin_lists_searches_exports_and_opens_only_calls_in_scope(client, office):
    carol = office["users"]["carol"]
    carol.is_staff = True
    carol.save()
    client.force_login(carol)
    calls = office["calls"]

    listing = client.get("/admin/calls/call/").content.decode()
    search = client.get("/admin/calls/call/", {"q": "8870"}).content.decode()
    outside = client.get(f"/admin/calls/call/{calls['dave_call'].pk}/change/", follow=True)
    ghost = client.get(f"/admin/calls/call/{unknown().pk}/change/", follow=True)
    inside = client.get(f"/admin/calls/call/{calls['alice_call'].pk}/change/")

    for name, call in calls.items():
        assert (str(call.pk) in listing) == (name in SEES["carol"]), name
    assert str(calls["dave_call"].pk) not in search
    assert inside.status_code == 200
    assert outside.redirect_chain == [("/admin/", 302)] == [(u, s) for u, s in ghost.redirect_chain]
    assert "doesn’t exist" in outside.content.decode()


def test_a_superuser_sees_every_call_in_the_admin(client, office):
    client.force_login(office["users"]["root"])

    listing = client.get("/admin/calls/call/").content.decode()

    assert all(str(call.pk) in listing for call in office["calls"].values())


# --- The Business API with a token ---------------------------------------------------------


def api(client, **params):
    return client.get("/verba/api", params)


def call_actions(call: Call) -> dict[str, dict[str, str]]:
    """One request per action that names a call, each naming it its own way."""
    return {
        "GetCallURL": {"callID": str(call.pk)},
        "GetCallID": {"platformCallID": call.platform_call_id},
        "GetCallInformation": {"nativeID": call.native_id},
        "GetMarkers": {"cid": str(call.pk)},
        "GetMedia": {"callID": str(call.pk)},
        "GetMediaEncoded": {"callID": str(call.pk), "format": "pcm16"},
        "GetMediaSegment": {"callID": str(call.pk), "start": "0", "end": "1"},
        "GetWaveform": {
            "callID": str(call.pk),
            "width": "10",
            "height": "10",
            "isColorDefined": "false",
        },
        "KeepCall": {"callID": str(call.pk)},
        "AttachMetaData": {"callID": str(call.pk), "ticket": "T-1"},
        "AddMarker": {"callID": str(call.pk), "mname": "Check", "mstart": "0.6", "mend": "0.8"},
    }


def code_of(response) -> int:
    return int(response.content.split(b'code="', 1)[1].split(b'"', 1)[0])


@pytest.mark.parametrize("viewer", list(SEES))
def test_every_api_action_with_a_token_finds_only_calls_in_scope(client, office, viewer):
    token = office["tokens"][viewer]
    for name, call in office["calls"].items():
        ghost_actions = call_actions(unknown())
        for action, params in call_actions(call).items():
            answer = api(client, action=action, apiKey=office["key"], token=token, **params)
            if name in SEES[viewer]:
                assert answer.status_code == 200
                assert answer.get("Content-Type", "").startswith(("audio", "image")) or (
                    code_of(answer) == 0
                ), (viewer, name, action, answer.content[:300])
            else:
                ghost = api(
                    client,
                    action=action,
                    apiKey=office["key"],
                    token=token,
                    **ghost_actions[action],
                )
                assert code_of(answer) == 2, (viewer, name, action)
                assert answer.content == ghost.content, (viewer, name, action)


@pytest.mark.parametrize("viewer", list(SEES))
def test_delete_call_of_a_call_outside_scope_is_code_2_and_deletes_nothing(client, office, viewer):
    token = office["tokens"][viewer]
    outside = [c for n, c in office["calls"].items() if n not in SEES[viewer]]
    for call in outside:
        answer = api(client, action="DeleteCall", apiKey=office["key"], token=token, callID=call.pk)
        ghost = api(
            client, action="DeleteCall", apiKey=office["key"], token=token, callID=unknown().pk
        )
        assert answer.content == ghost.content
        assert Call.objects.filter(pk=call.pk).exists()
    inside = [c for n, c in office["calls"].items() if n in SEES[viewer]]
    for call in inside:
        answer = api(client, action="DeleteCall", apiKey=office["key"], token=token, callID=call.pk)
        assert code_of(answer) == 0
        assert not Call.objects.filter(pk=call.pk).exists()


def searched(client, office, token: str | None, key: str | None = None) -> set[str]:
    params = {
        "action": "SearchCalls",
        "apiKey": key or office["key"],
        "start": (MOVED - timedelta(days=5)).strftime("%Y-%m-%d %H:%M"),
        "end": (MOVED + timedelta(days=5)).strftime("%Y-%m-%d %H:%M"),
        "responseType": "JSON",
    }
    if token:
        params["token"] = token
    answer = client.get("/verba/api", params).json()
    assert answer["code"] == 0, answer
    return {c["ccdr_id"] for c in answer["calls"]}


@pytest.mark.parametrize("viewer", list(SEES))
def test_search_calls_lists_only_calls_in_scope(client, office, viewer):
    expected = {str(office["calls"][name].pk) for name in SEES[viewer]}

    assert searched(client, office, office["tokens"][viewer]) == expected


@pytest.mark.parametrize("action", ["GetCallID", "GetCallURL"])
@pytest.mark.parametrize("status", ["last", "ongoing,last"])
def test_last_on_a_moved_number_is_each_owner_s_own_last_call(client, office, action, status):
    def last(viewer: str) -> str:
        return api(
            client,
            action=action,
            apiKey=office["key"],
            token=office["tokens"][viewer],
            extension="8856",
            status=status,
            responseType="TEXT",
        ).content.decode()

    def answers(viewer: str, name: str) -> bool:
        # GetCallID answers the id, GetCallURL a link that holds it.
        return str(office["calls"][name].pk) in last(viewer)

    assert answers("alice", "alice_call")
    assert answers("bob", "bob_call")
    assert answers("carol", "bob_call")
    assert answers("dpo", "bob_call")
    assert answers("root", "bob_call")
    assert last("nina").startswith("ERROR 2:")


# --- Keys limited to groups ----------------------------------------------------------------


def test_a_group_key_sees_its_groups_calls_only_without_a_token(client, office):
    dave_call = office["calls"]["dave_call"]
    for name, call in office["calls"].items():
        answer = api(client, action="GetCallURL", apiKey=office["support"], callID=call.pk)
        ghost = api(client, action="GetCallURL", apiKey=office["support"], callID=unknown().pk)
        if call == dave_call:
            assert code_of(answer) == 0
        else:
            assert answer.content == ghost.content, name

    assert searched(client, office, None, key=office["support"]) == {str(dave_call.pk)}


def test_a_group_key_with_a_token_sees_where_the_key_s_and_the_user_s_scopes_meet(
    client, office, django_user_model
):
    from apikeys.models import ApiKey

    support_key = ApiKey.objects.get(name="Support desk")
    dpo_token = request_token(support_key, office["users"]["dpo"])[1]
    alice_token = request_token(support_key, office["users"]["alice"])[1]

    assert searched(client, office, dpo_token, key=office["support"]) == {
        str(office["calls"]["dave_call"].pk)
    }
    assert searched(client, office, alice_token, key=office["support"]) == set()


def test_the_ingestion_list_and_reads_follow_the_key_s_groups(client, office):
    headers = {"X-Api-Key": office["support"]}
    dave_call, alice_call = office["calls"]["dave_call"], office["calls"]["alice_call"]

    listed = client.get("/api/v1/calls", headers=headers).json()["results"]
    outside = client.get(f"/api/v1/calls/{alice_call.pk}", headers=headers)
    ghost = client.get(f"/api/v1/calls/{unknown().pk}", headers=headers)

    assert [c["id"] for c in listed] == [str(dave_call.pk)]
    assert outside.status_code == ghost.status_code == 404
    assert outside.content == ghost.content
