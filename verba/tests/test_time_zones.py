"""Times in the token user's zone, as Verba does it (access.md §3, contract §7.0)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from apikeys.services import create_api_key, request_token
from calls.models import Call
from calls.tests.factories import CallFactory
from directory.models import Access
from directory.tests.factories import directory_user

pytestmark = pytest.mark.django_db

# 08:00 UTC on a summer day is 09:00 in London and 04:00 in New York.
STARTED = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def setting(client):
    call = CallFactory(started_at=STARTED, ended_at=STARTED.replace(minute=5))
    key, plaintext = create_api_key("Zones", can_ingest=True)
    user = directory_user("londoner", access=Access.ALL, time_zone="Europe/London")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="calls", codename__in=["view_call", "add_call"]
        )
    )
    token = request_token(key, user)[1]

    def api(**params):
        return client.get("/verba/api", {"apiKey": plaintext, **params})

    return api, token, call


def test_a_token_user_s_answers_are_in_the_user_s_zone_and_json_says_which(setting):
    api, token, call = setting

    with_token = api(
        action="GetCallInformation", callID=call.pk, token=token, responseType="JSON"
    ).json()
    without = api(action="GetCallInformation", callID=call.pk, responseType="JSON").json()

    assert with_token["timeZone"] == "Europe/London"
    assert with_token["call"]["start_time"] == "2026-07-01 09:00:00.000"
    assert with_token["call"]["end_time"] == "2026-07-01 09:05:00.000"
    assert without["timeZone"] == "UTC"
    assert without["call"]["start_time"] == "2026-07-01 08:00:00.000"


def test_search_calls_reads_start_and_end_in_the_user_s_zone(setting):
    api, token, call = setting

    def found(start: str, end: str, **extra) -> list[str]:
        answer = api(action="SearchCalls", start=start, end=end, responseType="JSON", **extra)
        return [c["ccdr_id"] for c in answer.json()["calls"]]

    # 09:00 London wall-clock time is the call's start; 08:00–08:59 London is before it.
    assert found("2026-07-01 09:00", "2026-07-01 09:00", token=token) == [str(call.pk)]
    assert found("2026-07-01 08:00", "2026-07-01 08:59", token=token) == []
    assert found("2026-07-01 08:00", "2026-07-01 08:00") == [str(call.pk)]


def test_an_error_in_json_names_the_token_user_s_zone_too(setting):
    api, token, _ = setting

    answer = api(action="SearchCalls", token=token, responseType="JSON").json()

    assert answer["code"] == 1
    assert answer["timeZone"] == "Europe/London"


def test_put_media_reads_its_times_in_the_token_user_s_zone(setting, client, media_root):
    _, token, _ = setting
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apikeys.models import ApiKey
    from calls.tests.sounds import tone_wav

    key = ApiKey.objects.get(name="Zones")
    from apikeys.services import rotate_api_key

    plaintext = rotate_api_key(key)
    answer = client.post(
        "/verba/api?"
        + "&".join(
            [
                "action=PutMedia",
                f"apiKey={plaintext}",
                f"token={token}",
                "starttime=2026-07-01%2010:00:00",
                "endtime=2026-07-01%2010:01:00",
                "nativeid=zone-1",
                "srccallerid=8856",
                "dstcallerid=%2B441000",
                "responseType=JSON",
            ]
        ),
        {"media": SimpleUploadedFile("a.wav", tone_wav(1.0), "audio/wav")},
    )

    assert answer.json()["code"] == 0, answer.json()
    stored = Call.objects.get(native_id="zone-1")
    assert stored.started_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
