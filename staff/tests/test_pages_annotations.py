"""The call page's custom metadata and the markers on its player's timeline."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from calls.models import Marker, MetadataField, MetadataValue
from calls.tests.factories import CallFactory
from calls.tests.sounds import tone_wav

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def page(client, call) -> str:
    response = client.get(f"/calls/{call.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_call_page_shows_every_custom_field_with_a_value_by_label(staff_client):
    call = CallFactory()
    for identifier, label, value, api in [
        ("ticket", "Ticket", "T-<1>", True),
        ("note", "Internal note", "line one\nline two", False),
        ("empty", "Never set", None, True),
    ]:
        field = MetadataField.objects.create(identifier=identifier, label=label, api_access=api)
        if value:
            MetadataValue.objects.create(call=call, field=field, value=value)

    html = page(staff_client, call)

    assert "<dt>Ticket</dt><dd>T-&lt;1&gt;</dd>" in html
    assert "<dt>Internal note</dt><dd>line one<br>line two</dd>" in html
    assert "Never set" not in html


def test_a_call_without_metadata_has_no_metadata_section(staff_client):
    assert "Custom metadata" not in page(staff_client, CallFactory())


def test_closed_markers_sit_on_the_timeline_at_their_share_of_the_call(
    staff_client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    start = timezone.now() - timedelta(hours=1)
    call = CallFactory(started_at=start, ended_at=start + timedelta(seconds=100))
    call.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))
    Marker.objects.create(call=call, name="Sale", start_ms=25_000, end_ms=75_000)
    Marker.objects.create(call=call, name="<Hold>", start_ms=80_000, end_ms=None)

    html = page(staff_client, call)

    assert 'data-end-ms="75000" style="left: 25.0%; width: 50.0%"' in html
    assert 'aria-label="Sale, from 0:25.0 to 1:15.0"' in html
    assert "Hold" not in html  # still open: not a segment yet


def test_without_markers_there_is_no_timeline(staff_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call = CallFactory()
    call.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))

    assert "marker-timeline" not in page(staff_client, call)


def test_markers_sit_at_their_share_of_the_recording_when_it_is_shorter_than_the_call(
    staff_client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    start = timezone.now() - timedelta(hours=1)
    # A ten-minute call of which only the first 4 seconds were recorded.
    call = CallFactory(started_at=start, ended_at=start + timedelta(minutes=10))
    call.recording.save("call.wav", ContentFile(tone_wav(4.0)))
    Marker.objects.create(call=call, name="Greeting", start_ms=1_000, end_ms=3_000)

    html = page(staff_client, call)

    # 1 s to 3 s of a 4-second recording, as the waveform above draws it; by the call's
    # length it would be a sliver at 0.167 %.
    assert 'data-end-ms="3000" style="left: 25.0%; width: 50.0%"' in html
