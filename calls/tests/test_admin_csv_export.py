"""The admin's CSV export: its exact bytes, and its work kept off the request's loop."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.urls import reverse

from calls.models import Direction, MetadataField, MetadataValue
from calls.resources import CallResource
from calls.tests.factories import CallFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

EXPORT_URL = reverse("admin:calls_call_export")
IMPORT_URL = reverse("admin:calls_call_import")
EVERY_COLUMN = {
    "format": "0",
    **{f"callresource_{name}": "on" for name in CallResource.Meta.fields},
}

# Times given in other zones are written in UTC; the server's own zone plays no part.
KOLKATA = timezone(timedelta(hours=5, minutes=30))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


def awkward_calls() -> None:
    ticket = MetadataField.objects.create(identifier="ticket", label="Ticket")
    agent = MetadataField.objects.create(identifier="agent", label="Agent")
    first = CallFactory(
        id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        caller_number="+442070000001",
        caller_name='Smith, "Jo"',
        called_number="8856",
        called_name="Zoë 名前",
        started_at=datetime(2026, 3, 29, 6, 29, 59, 999999, tzinfo=KOLKATA),
        ended_at=datetime(2026, 3, 29, 1, 5, tzinfo=UTC),
        direction=Direction.INBOUND,
        native_id="line\nbreak",
        platform_call_id="",
        keep=True,
    )
    MetadataValue.objects.create(call=first, field=ticket, value='T-1, "quoted"\nline')
    MetadataValue.objects.create(call=first, field=agent, value="Zoë")
    CallFactory(
        id=uuid.UUID("00000000-0000-4000-8000-000000000002"),
        caller_number="-5",
        caller_name='=HYPERLINK("http://x","y")',
        called_number="@SUM(1+1)",
        called_name="",
        started_at=datetime(2026, 1, 15, 19, 0, tzinfo=NEW_YORK_WINTER),
        ended_at=None,
        direction="",
        native_id="\ttab",
        platform_call_id="+cmd|' /C calc'!A0",
        keep=False,
    )


GOLDEN = (
    "Call ID,Caller number,Caller name,Called party number,Called party name,Start,End,"
    "Direction,Native ID,Platform call ID,Keep,Custom metadata\r\n"
    '00000000-0000-4000-8000-000000000001,+442070000001,"Smith, ""Jo""",8856,Zoë 名前,'
    '2026-03-29T00:59:59.999999+00:00,2026-03-29T01:05:00+00:00,inbound,"line\nbreak",,1,'
    '"{""agent"": ""Zoë"", ""ticket"": ""T-1, \\""quoted\\""\\nline""}"\r\n'
    '00000000-0000-4000-8000-000000000002,-5,"\'=HYPERLINK(""http://x"",""y"")",'
    "'@SUM(1+1),,2026-01-16T00:00:00+00:00,,,'\ttab,'+cmd|' /C calc'!A0,0,\r\n"
).encode()


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_the_export_writes_exactly_these_bytes_whatever_the_servers_time_zone(
    admin_client, settings, zone
):
    settings.TIME_ZONE = zone
    awkward_calls()

    response = admin_client.post(EXPORT_URL, EVERY_COLUMN)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == GOLDEN


# --- the row work runs on the CPU pool, off the loop that serves the other requests -------


@pytest.fixture
def where_rows_were_written(monkeypatch):
    """For each piece of row work of the export, whether it ran on the CPU pool."""
    from import_export import widgets

    from calls import resources
    from shared import cpu_pool

    seen: list[bool] = []
    text = resources._WRITERS[widgets.CharWidget]
    export_field = CallResource.export_field

    def spying(*args, **kwargs):
        seen.append(cpu_pool.in_pool())
        return text(*args, **kwargs)

    def spying_field(*args, **kwargs):
        seen.append(cpu_pool.in_pool())
        return export_field(*args, **kwargs)

    monkeypatch.setitem(resources._WRITERS, widgets.CharWidget, spying)
    monkeypatch.setattr(CallResource, "export_field", spying_field)
    return seen


def test_the_exports_rows_are_written_on_the_cpu_pool_not_in_the_request(
    admin_client, where_rows_were_written
):
    CallFactory.create_batch(3)

    response = admin_client.post(EXPORT_URL, EVERY_COLUMN)

    assert b"".join(response.streaming_content).count(b"\r\n") == 4
    assert where_rows_were_written and all(where_rows_were_written)


def test_a_column_only_the_resource_can_write_is_written_on_the_cpu_pool_too(
    admin_client, where_rows_were_written, monkeypatch
):
    from calls import resources

    CallFactory.create_batch(3)
    # As for a field added to the resource that the fast way does not know.
    monkeypatch.setattr(resources, "_cells", lambda *args: None)

    response = admin_client.post(EXPORT_URL, EVERY_COLUMN)

    assert b"".join(response.streaming_content).count(b"\r\n") == 4
    assert where_rows_were_written and all(where_rows_were_written)


def test_an_imports_rows_are_read_and_checked_on_the_cpu_pool_and_refused_as_before(
    admin_client, monkeypatch
):
    from calls import resources, rules
    from calls.models import Call
    from calls.tests.test_admin_calls import import_csv, row
    from shared import cpu_pool

    seen: list[bool] = []
    clean_fields = rules.clean_fields
    unescape_cell = resources.unescape_cell

    def spying_rules(*args, **kwargs):
        seen.append(cpu_pool.in_pool())
        return clean_fields(*args, **kwargs)

    def spying_unescape(*args, **kwargs):
        seen.append(cpu_pool.in_pool())
        return unescape_cell(*args, **kwargs)

    monkeypatch.setattr(rules, "clean_fields", spying_rules)
    monkeypatch.setattr(resources, "unescape_cell", spying_unescape)
    good = row(caller_name="'=1+1")

    html = import_csv(
        admin_client,
        [
            good,
            row(started_at="yesterday"),
            row(ended_at="2026-04-01T09:00:00+00:00"),
            row(caller_number=""),
        ],
    )

    assert seen and all(seen)
    assert Call.objects.count() == 0
    html = html.replace("<wbr>", "")
    assert "Line 3, Start: Use ISO 8601, e.g. 2026-11-26T14:05:00+00:00." in html
    assert "Line 4, End: The end cannot be before the start." in html
    assert "Line 5, Caller number: This field must be 1 to 64 characters" in html

    seen.clear()
    import_csv(admin_client, [good])

    assert Call.objects.get().caller_name == "=1+1"
    assert seen and all(seen)
