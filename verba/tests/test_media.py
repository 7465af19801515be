"""The media actions through the HTTP stack (contract §7.0 "Media answers", §7.8–§7.11,
§7.13): the files themselves, Range, content headers, and every error in XML."""

import io
import uuid

import av
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from apikeys.services import create_api_key
from audit.models import ApiRequest
from calls.tests.factories import CallFactory
from calls.tests.sounds import silent_then_loud_wav, tone_wav
from recordings import encoded
from verba.tests.conftest import golden

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

RECORDING = tone_wav(3.0)
# A fixed id, so golden files can name the call.
CALL_ID = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")
XML = "text/xml; charset=UTF-8"


def with_recording(data: bytes = RECORDING, content_type: str = "audio/wav", **fields):
    call = CallFactory(recording_content_type=content_type, **fields)
    call.recording.save("call.wav", ContentFile(data))
    return call


@pytest.fixture
def recorded_call():
    return with_recording(id=CALL_ID)


@pytest.fixture
def media(api, key):
    """media("GetMedia", callID=..., headers={...}): a media action with a valid key."""

    def call(action: str, headers=None, **params):
        return api(action=action, apiKey=key, headers=headers, **params)

    return call


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def code_of(response) -> int:
    assert response["Content-Type"] == XML, response["Content-Type"]
    return int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])


def decoded_seconds(data: bytes, container: str) -> float:
    with av.open(io.BytesIO(data), mode="r") as opened:
        assert opened.format.name == container
        stream = opened.streams.audio[0]
        return sum(frame.samples for frame in opened.decode(stream)) / stream.rate


# --- GetMedia ---------------------------------------------------------------------------------


def test_get_media_returns_the_stored_bytes_as_an_attachment(media, recorded_call):
    response = media("GetMedia", callID=str(CALL_ID))

    assert response.status_code == 200
    assert body(response) == RECORDING
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(len(RECORDING))
    assert response["Content-Disposition"] == f'attachment; filename="{CALL_ID}.wav"'
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "no-store"


def test_get_media_streams_the_file_rather_than_loading_it(media, recorded_call):
    assert media("GetMedia", callID=str(CALL_ID)).streaming


def test_get_media_finds_the_call_by_extension_and_status(media):
    call = with_recording(called_number="8856")

    response = media("GetMedia", extension="8856", status="last")

    assert body(response) == RECORDING
    assert str(call.pk) in response["Content-Disposition"]


def test_get_media_serves_a_range(media, recorded_call):
    response = media("GetMedia", callID=str(CALL_ID), headers={"Range": "bytes=100-199"})

    assert response.status_code == 206
    assert body(response) == RECORDING[100:200]
    assert response["Content-Range"] == f"bytes 100-199/{len(RECORDING)}"
    assert response["Content-Length"] == "100"


def test_get_media_answers_416_to_a_range_past_the_end(media, recorded_call):
    response = media("GetMedia", callID=str(CALL_ID), headers={"Range": "bytes=999999-"})

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(RECORDING)}"


@pytest.mark.parametrize(
    ("content_type", "filename", "served"),
    [
        ("audio/mpeg", "x.mp3", "audio/mpeg"),
        ("audio/ogg", "x.ogg", "audio/ogg"),
        # Only audio types are ever served as such (issue 9: stored XSS through recordings).
        ("application/x-unknown", "x.bin", "application/octet-stream"),
        ("text/html", "x.bin", "application/octet-stream"),
    ],
)
def test_the_file_name_extension_follows_the_stored_type(media, content_type, filename, served):
    call = with_recording(content_type=content_type)

    response = media("GetMedia", callID=str(call.pk))

    extension = filename.rsplit(".", 1)[1]
    assert response["Content-Disposition"] == f'attachment; filename="{call.pk}.{extension}"'
    assert response["Content-Type"] == served
    assert response["Content-Security-Policy"] == "sandbox"


def test_a_call_without_a_recording_is_code_2_the_call_has_no_media(media):
    CallFactory(id=CALL_ID)

    response = media("GetMedia", callID=str(CALL_ID))

    assert response.content == golden("get_media_no_media.xml")


def test_an_unknown_call_is_code_2_in_xml(media):
    response = media("GetMedia", callID=str(CALL_ID), responseType="JSON")

    assert response.content == golden("get_media_not_found.xml")


def test_a_recording_gone_from_storage_is_code_2_and_logged(media, recorded_call, caplog):
    recorded_call.recording.storage.delete(recorded_call.recording.name)

    response = media("GetMedia", callID=str(CALL_ID))

    assert code_of(response) == 2
    assert b"cannot be read from storage" in response.content
    assert str(CALL_ID) in caplog.text


# --- Errors are XML whatever responseType says ------------------------------------------------


MEDIA_ACTIONS = ["GetMedia", "GetMediaEncoded", "GetMediaSegment", "GetWaveform"]


@pytest.mark.parametrize("action", MEDIA_ACTIONS)
@pytest.mark.parametrize("response_type", ["JSON", "TEXT", "HTML"])
def test_a_bad_key_is_answered_in_xml_whatever_response_type_says(api, action, response_type):
    response = api(action=action, apiKey=str(uuid.uuid4()), responseType=response_type)

    assert response.status_code == 200
    assert response["Content-Type"] == XML
    assert response.content == golden("invalid_key.xml").replace(b"GetCallURL", action.encode())


def test_a_missing_token_is_answered_in_xml(api, recorded_call):
    _, needs_token = create_api_key("Needs a token", requires_auth=True)

    response = api(action="GetMedia", apiKey=needs_token, callID=str(CALL_ID), responseType="JSON")

    assert code_of(response) == 5


def test_a_repeated_parameter_is_answered_in_xml(client, key, recorded_call):
    url = f"/verba/api?action=GetMedia&apiKey={key}&responseType=JSON&callID={CALL_ID}&callID=x"

    assert code_of(client.get(url)) == 1


def test_throttling_is_answered_in_xml_with_429(media, recorded_call, settings):
    settings.API_THROTTLE = "1/min"
    media("GetMedia", callID=str(CALL_ID))

    response = media("GetMedia", callID=str(CALL_ID), responseType="JSON")

    assert response.status_code == 429
    assert code_of(response) == 7
    assert response["Retry-After"]


def test_a_wrong_method_is_405_in_xml(client, key):
    response = client.put(f"/verba/api?action=GetMedia&apiKey={key}&responseType=JSON")

    assert response.status_code == 405
    assert response["Content-Type"] == XML


def test_other_actions_still_answer_in_the_requested_type(api, key):
    response = api(action="GetCallURL", apiKey=key, callID=str(CALL_ID), responseType="JSON")

    assert response["Content-Type"] == "application/json"


def test_a_media_answer_leaves_an_audit_row_with_code_0_and_the_call(media, recorded_call):
    body(media("GetMedia", callID=str(CALL_ID)))

    row = ApiRequest.objects.get()
    assert (row.action, row.result_code, row.call_id) == ("GetMedia", 0, CALL_ID)


# --- GetMediaEncoded --------------------------------------------------------------------------


def test_get_media_encoded_answers_mp3_by_default(media, recorded_call):
    response = media("GetMediaEncoded", callID=str(CALL_ID))

    data = body(response)
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Content-Length"] == str(len(data))
    assert response["Content-Disposition"] == f'attachment; filename="{CALL_ID}.mp3"'
    assert decoded_seconds(data, "mp3") == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension", "container"),
    [
        ("mp3", "audio/mpeg", "mp3", "mp3"),
        ("pcm16", "audio/wav", "wav", "wav"),
        ("pcm8", "audio/wav", "wav", "wav"),
        ("ulaw", "audio/wav", "wav", "wav"),
        ("ALAW", "audio/wav", "wav", "wav"),
        ("Opus", "audio/ogg", "ogg", "ogg"),
    ],
)
def test_get_media_encoded_answers_each_format(
    media, recorded_call, fmt, content_type, extension, container
):
    response = media("GetMediaEncoded", callID=str(CALL_ID), format=fmt)

    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{CALL_ID}.{extension}"'
    assert decoded_seconds(body(response), container) == pytest.approx(3.0, abs=0.1)


def test_get_media_encoded_accepts_the_cid_and_ccdr_id_names_too(media, recorded_call):
    for name in ("cid", "ccdr_id"):
        response = media("GetMediaEncoded", format="pcm16", **{name: str(CALL_ID)})
        assert response["Content-Type"] == "audio/wav", name


def forget_copies(call) -> None:
    encoded.forget(call.recording.storage, call.recording.name)


def test_ranges_of_an_encoded_file_fit_together_even_after_the_kept_copy_is_gone(
    media, recorded_call
):
    whole = body(media("GetMediaEncoded", callID=str(CALL_ID), format="mp3"))
    forget_copies(recorded_call)

    first = media("GetMediaEncoded", callID=str(CALL_ID), headers={"Range": "bytes=0-999"})
    forget_copies(recorded_call)
    rest = media("GetMediaEncoded", callID=str(CALL_ID), headers={"Range": "bytes=1000-"})

    assert first.status_code == rest.status_code == 206
    assert rest["Content-Range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
    assert body(first) + body(rest) == whole


def test_get_media_encoded_answers_416_to_a_range_past_the_end(media, recorded_call):
    response = media("GetMediaEncoded", callID=str(CALL_ID), headers={"Range": "bytes=99999999-"})

    assert response.status_code == 416
    assert response["Content-Range"].startswith("bytes */")


def test_a_second_download_comes_from_the_cache(media, recorded_call, monkeypatch):
    first = body(media("GetMediaEncoded", callID=str(CALL_ID)))
    monkeypatch.setattr(
        "recordings.audio.transcode", lambda *a, **k: pytest.fail("transcoded twice")
    )

    assert body(media("GetMediaEncoded", callID=str(CALL_ID))) == first


def test_a_replaced_recording_is_never_served_from_the_cache(media, recorded_call):
    from calls.services import store_recording

    body(media("GetMediaEncoded", callID=str(CALL_ID), format="pcm16"))
    store_recording(recorded_call, io.BytesIO(tone_wav(1.0)), "audio/wav")

    response = media("GetMediaEncoded", callID=str(CALL_ID), format="pcm16")

    assert decoded_seconds(body(response), "wav") == 1.0


def test_a_transcoded_download_is_kept_in_the_recordings_storage_whatever_its_size(
    media, recorded_call, media_root
):
    first = body(media("GetMediaEncoded", callID=str(CALL_ID), format="pcm16"))

    kept = [path for path in (media_root / "encoded").rglob("*") if path.is_file()]
    assert [path.read_bytes() for path in kept] == [first]
    # Not a file of this process's memory: any process (or app server) reads it.
    assert kept[0].name == f"{len(RECORDING)}-pcm16.wav"


@pytest.mark.parametrize("fmt", ["msadpcm", "gsmfr", "speex", "speex_vad_hq", "opus_hq"])
def test_verbas_other_formats_are_code_1_not_supported(media, recorded_call, fmt):
    response = media("GetMediaEncoded", callID=str(CALL_ID), format=fmt, responseType="JSON")

    assert response.content == golden("get_media_encoded_format_not_supported.xml")


def test_an_unknown_format_is_code_1_naming_the_parameter(media, recorded_call):
    response = media("GetMediaEncoded", callID=str(CALL_ID), format="flac")

    assert code_of(response) == 1
    assert b"The format parameter must be one of mp3, pcm16" in response.content


def test_an_undecodable_recording_is_code_2_and_logged_never_9(media, caplog):
    with_recording(data=b"this is not audio" * 50, id=CALL_ID)

    response = media("GetMediaEncoded", callID=str(CALL_ID), responseType="JSON")

    assert response.status_code == 200
    assert response.content == golden("get_media_encoded_undecodable.xml")
    assert f"recording of call {CALL_ID} cannot be decoded" in caplog.text


def test_next_is_not_accepted_by_media_actions(media):
    with_recording(called_number="8856")

    assert code_of(media("GetMediaEncoded", extension="8856", status="next")) == 1


# --- GetMediaSegment --------------------------------------------------------------------------


def test_get_media_segment_cuts_ten_seconds_of_pcm16_by_default(media):
    call = with_recording(data=tone_wav(12.0))

    response = media("GetMediaSegment", callID=str(call.pk))

    data = body(response)
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(len(data))
    assert response["Content-Disposition"] == f'attachment; filename="{call.pk}.wav"'
    assert decoded_seconds(data, "wav") == 10.0


def test_get_media_segment_cuts_start_to_end_in_the_format_asked(media, recorded_call):
    response = media("GetMediaSegment", cid=str(CALL_ID), start="0.5", end="2", format="mp3")

    assert response["Content-Type"] == "audio/mpeg"
    assert decoded_seconds(body(response), "mp3") == pytest.approx(1.5, abs=0.1)


def test_get_media_segment_clamps_end_to_the_recording(media, recorded_call):
    response = media("GetMediaSegment", callID=str(CALL_ID), start="2", end="600")

    assert decoded_seconds(body(response), "wav") == 1.0


def test_get_media_segment_ignores_range(media, recorded_call):
    response = media("GetMediaSegment", callID=str(CALL_ID), headers={"Range": "bytes=0-9"})

    assert response.status_code == 200
    assert response["Accept-Ranges"] == "none"


def test_a_segment_outside_the_recording_is_code_1(media, recorded_call):
    response = media("GetMediaSegment", callID=str(CALL_ID), start="3", end="5")

    assert response.content == golden("get_media_segment_outside.xml")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "5", "end": "5"}, b"The start parameter must be less than end."),
        ({"start": "6", "end": "5"}, b"The start parameter must be less than end."),
        ({"start": "-1"}, b"The start parameter must be a number of seconds, 0 or more."),
        ({"end": "ten"}, b"The end parameter must be a number of seconds, 0 or more."),
        ({"end": "1e400"}, b"The end parameter must be a number of seconds, 0 or more."),
        ({"start": "nan"}, b"The start parameter must be a number of seconds, 0 or more."),
        ({"format": "gsmfr"}, b"The format is not supported."),
    ],
)
def test_bad_segment_parameters_are_code_1_naming_them(media, recorded_call, params, message):
    response = media("GetMediaSegment", callID=str(CALL_ID), responseType="TEXT", **params)

    assert code_of(response) == 1
    assert message in response.content


def test_get_media_segment_accepts_no_extension_and_status(media):
    with_recording(called_number="8856")

    assert code_of(media("GetMediaSegment", extension="8856", status="last")) == 1


# --- GetWaveform ------------------------------------------------------------------------------

COLOURS = {
    "isColorDefined": "true",
    # The lowest byte is red: 0x0000FF is red, 0xFF0000 is blue.
    "bgColor": "0x00FF00",
    "maxColor": "0x0000FF",
    "minColor": "0xFF0000",
    "transparency": "0x00FF00",
}


def test_get_waveform_draws_a_png_of_the_size_asked(media):
    call = with_recording(data=silent_then_loud_wav())

    response = media("GetWaveform", callID=str(call.pk), width="4", height="21", **COLOURS)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(response.content))
    assert response["Content-Disposition"] == f'attachment; filename="{call.pk}.png"'
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("PNG", (4, 21))
    pixels = image.convert("RGBA")
    # Silence on the left: transparent green background; full scale on the right.
    assert pixels.getpixel((0, 0)) == (0, 255, 0, 0)
    assert pixels.getpixel((3, 0)) == (255, 0, 0, 255)
    assert pixels.getpixel((3, 20)) == (0, 0, 255, 255)


def test_get_waveform_without_colours_uses_the_default_style(media, recorded_call):
    response = media(
        "GetWaveform", cid=str(CALL_ID), width="800", height="80", isColorDefined="false"
    )

    image = Image.open(io.BytesIO(response.content)).convert("RGBA")
    assert image.size == (800, 80)
    assert image.getpixel((0, 0)) == (255, 255, 255, 255)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"width": "0"}, b"The width parameter must be a whole number from 1 to 4000."),
        ({"width": "4001"}, b"The width parameter must be a whole number from 1 to 4000."),
        ({"height": "1001"}, b"The height parameter must be a whole number from 1 to 1000."),
        ({"height": "1.5"}, b"The height parameter must be a whole number from 1 to 1000."),
        ({"isColorDefined": "yes"}, b"The isColorDefined parameter must be true or false."),
        ({"bgColor": None}, b"The bgColor parameter is required when isColorDefined is true."),
        ({"maxColor": "#FF0000"}, b"The maxColor parameter must be 0x followed by 6 hexadecimal"),
        ({"transparency": "0x12345"}, b"The transparency parameter must be 0x followed by 6"),
    ],
)
def test_bad_waveform_parameters_are_code_1_naming_them(media, recorded_call, params, message):
    given = {"width": "100", "height": "20", **COLOURS, **params}
    given = {name: value for name, value in given.items() if value is not None}

    response = media("GetWaveform", callID=str(CALL_ID), responseType="JSON", **given)

    assert code_of(response) == 1
    assert message in response.content


def test_a_missing_width_is_golden(media, recorded_call):
    response = media("GetWaveform", callID=str(CALL_ID), height="20", **COLOURS)

    assert response.content == golden("get_waveform_width_missing.xml")


def test_the_waveform_of_an_undecodable_recording_is_code_2(media):
    call = with_recording(data=b"\x00" * 4000)

    response = media("GetWaveform", callID=str(call.pk), width="10", height="10", **COLOURS)

    assert code_of(response) == 2


# --- Audio work off the request's thread, bounded, shared (issue 19, item 1) ----------------


@pytest.fixture
def where_audio_ran(monkeypatch):
    """Records, for each decode of a recording, whether it ran on the CPU pool."""
    from recordings import audio
    from shared import cpu_pool

    seen: list[bool] = []
    frames = audio._frames

    def spying(*args, **kwargs):
        seen.append(cpu_pool.in_pool())
        return frames(*args, **kwargs)

    monkeypatch.setattr(audio, "_frames", spying)
    return seen


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("GetMediaEncoded", {"format": "mp3"}),
        ("GetMediaSegment", {"start": "0", "end": "1"}),
        ("GetWaveform", {"width": "100", "height": "20", "isColorDefined": "false"}),
    ],
)
def test_every_transcode_and_waveform_runs_on_the_cpu_pool_not_in_the_request(
    media, recorded_call, where_audio_ran, action, params
):
    response = media(action, callID=str(CALL_ID), **params)

    assert response.status_code == 200
    assert where_audio_ran and all(where_audio_ran)


def test_past_the_bound_on_audio_work_the_answer_is_code_9_busy_with_retry_after(
    media, recorded_call, settings
):
    from recordings import work

    settings.AUDIO_WORK_MAX = 1
    with work.slots.taken():  # another request's transcode
        response = media("GetMediaEncoded", callID=str(CALL_ID), format="mp3")

    assert response.status_code == 503
    assert code_of(response) == 9
    assert b"busy" in response.content
    assert int(response["Retry-After"]) > 0
    # Once the other transcode is done, the same request is served.
    assert media("GetMediaEncoded", callID=str(CALL_ID), format="mp3").status_code == 200


def test_concurrent_requests_for_one_recording_and_format_share_one_transcode(
    recorded_call, monkeypatch
):
    import threading

    from recordings import audio

    followers_waiting = threading.Semaphore(0)

    class WatchedEvent(threading.Event):
        def wait(self, timeout=None):
            followers_waiting.release()
            return super().wait(timeout)

    class WatchedFlight(encoded._Flight):
        def __init__(self):
            super().__init__(done=WatchedEvent())

    monkeypatch.setattr(encoded, "_Flight", WatchedFlight)
    transcodes = []
    transcode = audio.transcode
    followers = 4

    def counted(*args, **kwargs):
        transcodes.append(1)
        # Hold the transcode until every other request waits for it.
        for _ in range(followers):
            assert followers_waiting.acquire(timeout=30)
        return transcode(*args, **kwargs)

    monkeypatch.setattr(audio, "transcode", counted)
    fmt = audio.FORMATS["mp3"]
    results = []

    def download():
        got = encoded.encoded_recording(recorded_call.recording, fmt, max_seconds=None)
        with got.open() as handle:
            results.append(handle.read())

    threads = [threading.Thread(target=download) for _ in range(followers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(transcodes) == 1
    assert len(results) == followers + 1
    assert len(set(results)) == 1 and results[0][:3] == b"ID3"


def test_a_recording_far_longer_than_its_call_is_refused_with_the_reason(media, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from recordings import audio

    # Allowed: twice the call's length plus OVERRUN_SECONDS (10 minutes; 0.5 s here, so a
    # 3-second recording of a 1-second call is far beyond it).
    monkeypatch.setattr(audio, "OVERRUN_SECONDS", 0.5)
    start = timezone.now() - timedelta(hours=1)
    call = with_recording(started_at=start, ended_at=start + timedelta(seconds=1))

    for action, params in (
        ("GetMediaEncoded", {"format": "mp3"}),
        ("GetWaveform", {"width": "100", "height": "20", "isColorDefined": "false"}),
    ):
        response = media(action, callID=str(call.pk), **params)

        assert code_of(response) == 2, action
        assert (
            b"refused: it decodes to more than 2 seconds, far beyond the call's length "
            b"of 1 seconds" in response.content
        ), response.content


def test_a_recording_as_long_as_its_call_is_served_in_full(media, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from recordings import audio

    monkeypatch.setattr(audio, "OVERRUN_SECONDS", 0.5)
    start = timezone.now() - timedelta(hours=1)
    call = with_recording(started_at=start, ended_at=start + timedelta(seconds=3))

    response = media("GetMediaEncoded", callID=str(call.pk), format="pcm16")

    assert decoded_seconds(body(response), "wav") == 3.0


def test_deleting_a_recording_deletes_its_transcoded_copies(media, recorded_call, media_root):
    from calls.services import remove_recording

    body(media("GetMediaEncoded", callID=str(CALL_ID), format="mp3"))
    assert [path for path in (media_root / "encoded").rglob("*") if path.is_file()]

    remove_recording(recorded_call)

    assert not [path for path in (media_root / "encoded").rglob("*") if path.is_file()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("GetMediaEncoded", {"format": "mp3"}),
        ("GetMediaSegment", {"start": "0", "end": "1"}),
        ("GetWaveform", {"width": "100", "height": "20", "isColorDefined": "false"}),
    ],
)
def test_a_request_waiting_for_audio_work_holds_no_database_connection(
    media, monkeypatch, action, params
):
    from django.db import connection

    from shared import cpu_pool

    call = with_recording()
    holding = []
    run = cpu_pool.run

    def noting(*args, **kwargs):
        holding.append(connection.connection is not None)
        return run(*args, **kwargs)

    monkeypatch.setattr(cpu_pool, "run", noting)

    response = media(action, callID=str(call.pk), **params)

    assert response.status_code == 200
    assert holding == [False]
