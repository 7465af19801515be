"""Playing a call's recording: permission-checked, with HTTP range requests for seeking."""

import io
import wave

import pytest
from django.core.files.base import ContentFile

from calls.tests.factories import CallFactory
from directory.models import Access
from directory.tests.factories import directory_user, without_csrf

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short mono 16-bit WAV whose samples are not all alike (so byte ranges differ)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes((n * 7) % 256 for n in range(int(seconds * rate) * 2)))
    return buffer.getvalue()


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
    return f"/calls/{call.pk}/recording"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_whole_recording_is_served_with_its_type_and_range_support(staff_client, recorded_call):
    data = wav_bytes()

    response = staff_client.get(url(recorded_call))

    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(data))
    assert body(response) == data
    assert "private" in response["Cache-Control"]
    assert response["Content-Disposition"] == f'inline; filename="call-{recorded_call.pk}.wav"'


def test_every_recording_is_served_sandboxed_and_never_sniffed(staff_client, recorded_call):
    for response in (
        staff_client.get(url(recorded_call)),
        staff_client.get(url(recorded_call), HTTP_RANGE="bytes=0-9"),
        staff_client.head(url(recorded_call)),
        staff_client.get(url(recorded_call), HTTP_RANGE="bytes=99999999-"),
    ):
        assert response["Content-Security-Policy"] == "sandbox"
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("stored_type", "name"),
    [
        ("text/html", "call.html"),
        ("text/html; charset=utf-8", "call.wav"),
        ("image/svg+xml", "call.svg"),
        ("", "call.html"),  # no stored type: the name's guess is no better
        ("audio/wav, text/html", "call.wav"),
    ],
)
def test_a_recording_stored_with_a_type_that_is_not_audio_is_only_ever_downloaded(
    staff_client, stored_type, name
):
    # Written before uploads were checked: an HTML page with a script, as a "recording".
    page = b"<html><script>fetch('/admin/auth/user/')</script></html>"
    call = CallFactory(recording_content_type=stored_type)
    call.recording.save(name, ContentFile(page))

    response = staff_client.get(url(call))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="call-{call.pk}.bin"'
    assert response["Content-Security-Policy"] == "sandbox"
    assert body(response) == page


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, None),
        ("bytes=-100", -100, None),
        ("bytes=16000-99999999", 16000, None),
        ("bytes=0-0", 0, 0),
    ],
)
def test_a_range_request_gets_just_those_bytes(staff_client, recorded_call, header, first, last):
    data = wav_bytes()
    expected = data[first : None if last is None else last + 1]
    start = first if first >= 0 else len(data) + first

    response = staff_client.get(url(recorded_call), HTTP_RANGE=header)

    assert response.status_code == 206
    assert body(response) == expected
    assert response["Content-Length"] == str(len(expected))
    assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=-0", f"bytes={len(wav_bytes())}-"])
def test_a_range_beyond_the_end_gets_416_with_the_size(staff_client, recorded_call, header):
    response = staff_client.get(url(recorded_call), HTTP_RANGE=header)

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(wav_bytes())}"


@pytest.mark.parametrize(
    "header", ["bytes=abc", "items=0-10", "bytes=10-5", "bytes=0-1,5-9", "bytes=-"]
)
def test_a_range_header_we_do_not_serve_gets_the_whole_file(staff_client, recorded_call, header):
    response = staff_client.get(url(recorded_call), HTTP_RANGE=header)

    assert response.status_code == 200
    assert body(response) == wav_bytes()


def test_a_head_request_gets_the_headers_without_the_body(staff_client, recorded_call):
    response = staff_client.head(url(recorded_call), HTTP_RANGE="bytes=0-9")

    assert response.status_code == 206
    assert response["Content-Length"] == "10"
    assert response.content == b""


def test_a_recording_without_a_stored_type_gets_one_from_its_name(staff_client):
    call = CallFactory(recording_content_type="")
    call.recording.save("call.wav", ContentFile(wav_bytes()))

    response = staff_client.get(url(call))

    assert response["Content-Type"] in ("audio/wav", "audio/x-wav")


def test_the_call_page_offers_a_player_for_the_recording(staff_client, recorded_call):
    page = staff_client.get(f"/calls/{recorded_call.pk}/").content.decode()

    assert f'<audio controls preload="none" src="{url(recorded_call)}"' in page


def test_a_call_without_a_recording_gets_404(staff_client):
    call = CallFactory()

    response = staff_client.get(url(call))

    assert response.status_code == 404
    assert "Not found" in response.content.decode()


def test_a_recording_missing_from_storage_gets_404(staff_client, recorded_call, media_root):
    (media_root / recorded_call.recording.name).unlink()

    response = staff_client.get(url(recorded_call))

    assert response.status_code == 404


def test_anonymous_visitors_never_get_the_audio(client, recorded_call):
    response = client.get(url(recorded_call), HTTP_RANGE="bytes=0-99")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_users_without_access_never_get_the_audio(client, recorded_call):
    client.force_login(directory_user("x", access=Access.NONE))

    response = client.get(url(recorded_call))

    assert response.status_code == 403
    assert b"RIFF" not in response.content


def test_a_call_outside_the_user_s_scope_has_no_audio_as_if_it_did_not_exist(client, recorded_call):
    client.force_login(directory_user("agent", access=Access.OWN, extensions=["0000"]))

    response = client.get(url(recorded_call))
    unknown = client.get(url(recorded_call).replace(str(recorded_call.pk)[:8], "00000000"))

    assert response.status_code == unknown.status_code == 404
    assert without_csrf(response.content) == without_csrf(unknown.content)
    assert b"RIFF" not in response.content
