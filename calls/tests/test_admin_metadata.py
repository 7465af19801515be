"""The admin for custom metadata fields, and metadata and markers on the call page."""

import json
import os

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from calls.models import Call, Marker, MetadataField, MetadataValue
from calls.tests.factories import CallFactory
from calls.tests.test_admin_calls import EXPORT_FIELDS, export_csv

pytestmark = pytest.mark.django_db

FIELD_ADD_URL = reverse("admin:calls_metadatafield_add")


def add_field(client, **data):
    return client.post(FIELD_ADD_URL, {"label": "Ticket", "api_access": "on", **data})


def test_an_administrator_defines_a_field(admin_client):
    response = add_field(admin_client, identifier="ticket_id")

    assert response.status_code == 302
    field = MetadataField.objects.get()
    assert (field.identifier, field.label, field.api_access) == ("ticket_id", "Ticket", True)


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("ab", "3 to 128 characters"),
        ("ticket id", "3 to 128 characters"),
        ("status", "Business API parameter name"),
        ("returnMetadata", "Business API parameter name"),
        ("TICKET", "already exists"),
    ],
)
def test_the_field_form_refuses_bad_identifiers_and_says_why(admin_client, identifier, message):
    MetadataField.objects.create(identifier="ticket", label="Ticket")

    response = add_field(admin_client, identifier=identifier)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert MetadataField.objects.count() == 1


def test_an_identifier_cannot_be_renamed_once_defined(admin_client):
    field = MetadataField.objects.create(identifier="ticket", label="Ticket")
    url = reverse("admin:calls_metadatafield_change", args=[field.pk])

    admin_client.post(url, {"identifier": "renamed", "label": "Ticket no.", "api_access": "on"})

    field.refresh_from_db()
    assert (field.identifier, field.label) == ("ticket", "Ticket no.")


def test_the_call_page_shows_and_edits_metadata_and_lists_markers(admin_client):
    call = CallFactory()
    field = MetadataField.objects.create(identifier="ticket", label="Ticket")
    value = MetadataValue.objects.create(call=call, field=field, value="T-1")
    Marker.objects.create(call=call, name="Sale", start_ms=16_700, end_ms=65_400)
    url = reverse("admin:calls_call_change", args=[call.pk])

    html = admin_client.get(url).content.decode()

    assert "T-1" in html and "Sale" in html and "65400" in html
    page = admin_client.get(url).context["adminform"].form.initial
    data = {k: v for k, v in page.items() if v is not None and k != "id"}
    data.update(
        {
            "started_at_0": call.started_at.strftime("%Y-%m-%d"),
            "started_at_1": call.started_at.strftime("%H:%M:%S"),
            "ended_at_0": call.ended_at.strftime("%Y-%m-%d"),
            "ended_at_1": call.ended_at.strftime("%H:%M:%S"),
            "metadata_values-TOTAL_FORMS": "1",
            "metadata_values-INITIAL_FORMS": "1",
            "metadata_values-0-id": str(value.pk),
            "metadata_values-0-call": str(call.pk),
            "metadata_values-0-field": str(field.pk),
            "metadata_values-0-value": "T-2",
            "markers-TOTAL_FORMS": "1",
            "markers-INITIAL_FORMS": "1",
            "markers-0-id": str(Marker.objects.get().pk),
            "markers-0-call": str(call.pk),
            "markers-0-DELETE": "on",
        }
    )
    data.pop("recording", None)
    data["keep"] = ""
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert MetadataValue.objects.get().value == "T-2"
    assert not Marker.objects.exists()


def test_the_csv_export_includes_metadata_as_json_ordered_by_identifier(admin_client):
    call = CallFactory(caller_number="100")
    CallFactory(caller_number="200")
    for identifier, value in [("ticket", "T-1"), ("customer", "=C-9")]:
        field = MetadataField.objects.create(identifier=identifier, label=identifier)
        MetadataValue.objects.create(call=call, field=field, value=value)

    rows = {r["caller_number"]: r for r in export_csv(admin_client)}

    assert json.loads(rows["100"]["metadata"]) == {"customer": "=C-9", "ticket": "T-1"}
    assert list(json.loads(rows["100"]["metadata"])) == ["customer", "ticket"]
    assert rows["200"]["metadata"] == ""


def test_the_export_reads_metadata_in_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    field = MetadataField.objects.create(identifier="ticket", label="Ticket")
    for n in range(30):
        MetadataValue.objects.create(call=CallFactory(), field=field, value=f"T-{n}")

    with django_assert_max_num_queries(15):
        rows = export_csv(admin_client)

    assert len(rows) == 30 and set(rows[0]) == set(EXPORT_FIELDS)


def test_deleting_a_call_in_the_admin_deletes_its_recording_file(
    admin_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    call = CallFactory()
    call.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))
    path = call.recording.path
    url = reverse("admin:calls_call_delete", args=[call.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Call.objects.exists()
    assert not os.path.exists(path)
