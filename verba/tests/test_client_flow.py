"""The flow of the public Verba clients, replayed against a live server over real HTTP:
RequestToken with userName/password in the query, SearchCalls for the day's calls, then each
call's audio with GetMediaEncoded (cid, format=mp3) and GetMedia (ccdr_id)."""

from __future__ import annotations

import io
import re
import urllib.parse
import urllib.request
from datetime import timedelta

import av
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from apikeys.services import create_api_key
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

SECONDS = 4.0
RECORDING = tone_wav(SECONDS)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fetch(server: str, **params: str) -> tuple[dict[str, str], bytes]:
    url = f"{server}/verba/api?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the test server
        assert response.status == 200
        return dict(response.headers), response.read()


def mp3_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data), mode="r") as container:
        assert container.format.name == "mp3"
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def test_a_verba_client_logs_in_and_downloads_a_calls_audio(live_server, staff_user):
    _, key = create_api_key("Verba client", requires_auth=True)
    call = CallFactory(recording_content_type="audio/wav")
    call.recording.save("call.wav", ContentFile(RECORDING))
    CallFactory()  # a call without a recording: listed, but no audio to fetch
    server = live_server.url

    _, answer = fetch(
        server, action="RequestToken", apiKey=key, userName="staff", password="pw-staff-1"
    )
    token = re.search(rb'token="([A-Za-z0-9]{32})"', answer).group(1).decode()

    now = timezone.now()
    _, listing = fetch(
        server,
        action="SearchCalls",
        apiKey=key,
        token=token,
        pagelen="100",
        returnMetadata="1",
        start=f"{now - timedelta(days=1):%Y-%m-%d %H:%M}",
        end=f"{now:%Y-%m-%d %H:%M}",
    )
    records = re.findall(rb"<verbacdr [^>]*>(.*?)</verbacdr>", listing, re.S)
    with_media = [
        re.search(rb"<ccdr_id>(.*?)</ccdr_id>", record).group(1).decode()
        for record in records
        if b"<media>true</media>" in record
    ]
    assert len(records) == 2
    assert with_media == [str(call.pk)]

    headers, mp3 = fetch(
        server, action="GetMediaEncoded", apiKey=key, token=token, cid=str(call.pk), format="mp3"
    )
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Content-Disposition"] == f'attachment; filename="{call.pk}.mp3"'
    assert int(headers["Content-Length"]) == len(mp3)
    assert mp3_seconds(mp3) == pytest.approx(SECONDS, abs=0.1)

    headers, stored = fetch(
        server, action="GetMedia", apiKey=key, token=token, ccdr_id=str(call.pk)
    )
    assert headers["Content-Type"] == "audio/wav"
    assert stored == RECORDING
