"""The waveform above the call page's player: a PNG from a staff-only URL."""

import io
import logging

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from calls.tests.factories import CallFactory
from recordings import audio, serving
from staff.tests.test_recordings import wav_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def recorded_call():
    call = CallFactory(recording_content_type="audio/wav")
    call.recording.save("call.wav", ContentFile(wav_bytes()))
    return call


def url(call) -> str:
    return f"/calls/{call.pk}/waveform.png"


def test_the_waveform_is_the_png_getwaveforms_code_draws(staff_client, recorded_call):
    response = staff_client.get(url(recorded_call))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(response.content))
    with io.BytesIO(wav_bytes()) as source:
        drawn = audio.waveform(
            source,
            serving.WAVEFORM_WIDTH,
            serving.WAVEFORM_HEIGHT,
            serving.WAVEFORM_COLOURS,
        )
    assert response.content == drawn
    assert Image.open(io.BytesIO(response.content)).size == (1200, 120)


def test_the_browser_keeps_the_waveform_privately_and_revalidates_it(staff_client, recorded_call):
    first = staff_client.get(url(recorded_call))

    assert first["Cache-Control"] == "private, max-age=86400"
    again = staff_client.get(url(recorded_call), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]
    assert again.content == b""


def test_a_replaced_recording_gets_a_new_etag(staff_client, recorded_call):
    before = staff_client.get(url(recorded_call))["ETag"]
    recorded_call.recording.save("call.wav", ContentFile(wav_bytes(seconds=2)))

    assert staff_client.get(url(recorded_call))["ETag"] != before


def test_a_call_without_a_recording_has_no_waveform_and_its_url_is_the_sites_404(staff_client):
    call = CallFactory()

    page = staff_client.get(f"/calls/{call.pk}/").content.decode()
    response = staff_client.get(url(call))

    assert "waveform" not in page
    assert 'role="slider"' not in page
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.content.decode()


def test_a_recording_that_is_not_audio_gets_404_and_a_warning(staff_client, caplog):
    call = CallFactory(recording_content_type="audio/wav")
    call.recording.save("call.wav", ContentFile(b"RIFF\0\0\0\0WAVEnot really audio"))

    with caplog.at_level(logging.WARNING, logger="staff.views"):
        response = staff_client.get(url(call))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert f"call {call.pk} cannot be read" in caplog.text


def test_a_recording_missing_from_storage_gets_404(staff_client, recorded_call, media_root):
    (media_root / recorded_call.recording.name).unlink()

    assert staff_client.get(url(recorded_call)).status_code == 404


def test_the_call_page_puts_a_labelled_waveform_control_above_the_player(
    staff_client, recorded_call
):
    page = staff_client.get(f"/calls/{recorded_call.pk}/").content.decode()

    assert f'<img src="{url(recorded_call)}" alt=""' in page
    assert 'role="slider" tabindex="0" aria-label="Position in the recording"' in page
    assert page.index('class="waveform"') < page.index("<audio")
    assert "js/player.js" in page
