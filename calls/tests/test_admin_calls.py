"""The call pages of the admin: list, search, filters, call page, CSV import and export."""

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from import_export.formats.base_formats import CSV

from calls.cdr_csv import HEADINGS
from calls.models import Call, Direction, MetadataField, MetadataValue
from calls.resources import CallResource, _cells
from calls.tests.factories import CallFactory
from shared.paginators import BoundedCountPaginator

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

LIST_URL = reverse("admin:calls_call_changelist")
EXPORT_URL = reverse("admin:calls_call_export")
IMPORT_URL = reverse("admin:calls_call_import")
PROCESS_IMPORT_URL = reverse("admin:calls_call_process_import")


def listed(client, query: str = "") -> str:
    response = client.get(f"{LIST_URL}?{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_shows_parties_times_duration_state_and_keep(admin_client):
    start = timezone.now() - timedelta(hours=2)
    CallFactory(
        caller_number="+15550001",
        called_number="8856",
        started_at=start,
        ended_at=start + timedelta(minutes=3, seconds=7),
        keep=True,
    )
    CallFactory(caller_number="+15550002", ended_at=None, started_at=timezone.now())

    html = listed(admin_client)

    assert "+15550001" in html and "8856" in html
    assert ">3:07</td>" in html  # as the staff pages show it, not 0:03:07
    assert "0:03:07" not in html
    assert "Finished" in html and "In progress" in html
    assert 'alt="True"' in html  # the keep column


def test_newest_calls_come_first(admin_client):
    now = timezone.now()
    CallFactory(caller_number="OLDEST", started_at=now - timedelta(days=3))
    CallFactory(caller_number="NEWEST", started_at=now - timedelta(minutes=10))

    html = listed(admin_client)

    assert html.index("NEWEST") < html.index("OLDEST")


def test_search_matches_either_number_the_id_or_the_native_id(admin_client):
    a = CallFactory(caller_number="+441111", called_number="200", native_id="n-a")
    b = CallFactory(caller_number="+442222", called_number="300", native_id="n-b")

    def found(term: str) -> set[str]:
        html = listed(admin_client, f"q={term.replace('+', '%2B')}")
        return {c.caller_number for c in (a, b) if c.caller_number in html}

    assert found("+441111") == {"+441111"}
    assert found("300") == {"+442222"}
    assert found(str(b.pk)) == {"+442222"}
    assert found(str(a.pk).upper()) == {"+441111"}
    assert found("n-a") == {"+441111"}
    assert found("44") == set()  # exact numbers only: that is what the indexes serve


def test_a_number_search_lists_both_sides_newest_first_across_pages(admin_client, monkeypatch):
    monkeypatch.setattr("calls.admin.CallAdmin.list_per_page", 2)
    now = timezone.now()
    for minutes, (caller, called) in enumerate(
        [("8856", "7001"), ("+4401", "8856"), ("8856", "8856"), ("+4402", "8856"), ("7002", "7003")]
    ):
        CallFactory(
            caller_number=caller,
            called_number=called,
            direction=Direction.INBOUND,
            started_at=now - timedelta(minutes=minutes + 1),
        )

    first = listed(admin_client, "q=8856")
    second = listed(admin_client, "q=8856&p=2")
    inbound = listed(admin_client, "q=8856&direction__exact=inbound")

    assert "4 calls" in first  # the call from 8856 to itself once, the other number's not
    assert first.index("7001") < first.index("+4401") and "+4402" not in first
    assert "+4402" in second and "7001" not in second and "+4401" not in second
    assert "7002" not in first + second
    assert "4 calls" in inbound  # a filter and a search together


def test_filters_by_state_direction_and_start_date_range(admin_client):
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    CallFactory(caller_number="MARCH9", started_at=day - timedelta(days=1))
    CallFactory(caller_number="MARCH10", started_at=day, direction=Direction.OUTBOUND)
    CallFactory(caller_number="MARCH11", started_at=day + timedelta(days=1))
    CallFactory(caller_number="ONGOING", started_at=timezone.now(), ended_at=None)

    def found(query: str) -> set[str]:
        html = listed(admin_client, query)
        return {n for n in ("MARCH9", "MARCH10", "MARCH11", "ONGOING") if n in html}

    assert found("state=in_progress") == {"ONGOING"}
    assert found("state=finished") == {"MARCH9", "MARCH10", "MARCH11"}
    assert found("direction__exact=outbound") == {"MARCH10"}
    assert found("started_at__range_from=2026-03-10&started_at__range_to=2026-03-11") == {
        "MARCH10",
        "MARCH11",
    }
    assert found("started_at__range_to=2026-03-09") == {"MARCH9"}


def test_a_bad_date_in_the_range_filter_is_explained_not_a_crash(admin_client):
    CallFactory(caller_number="ANYCALL")

    html = listed(admin_client, "started_at__range_from=yesterday")

    assert "“yesterday” is not a date (YYYY-MM-DD)." in html
    assert "ANYCALL" in html


def test_the_date_hierarchy_drills_down_by_year_and_month(admin_client):
    CallFactory(caller_number="Y2025", started_at=datetime(2025, 6, 1, tzinfo=UTC))
    CallFactory(caller_number="Y2026", started_at=datetime(2026, 2, 1, tzinfo=UTC))

    top = listed(admin_client)
    year = listed(admin_client, "started_at__year=2026")
    month = listed(admin_client, "started_at__year=2026&started_at__month=2")

    assert "?started_at__year=2025" in top and "?started_at__year=2026" in top
    assert "Y2026" in year and "Y2025" not in year
    assert "started_at__day=1" in month


def test_the_list_never_counts_the_whole_table(admin_client):
    CallFactory.create_batch(5)

    with CaptureQueriesContext(connection) as queries:
        listed(admin_client)

    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the paginator should count (boundedly)"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_list_costs_the_same_queries_for_5_or_50_calls(admin_client):
    CallFactory.create_batch(5)
    with CaptureQueriesContext(connection) as few:
        listed(admin_client)
    CallFactory.create_batch(45)
    with CaptureQueriesContext(connection) as many:
        listed(admin_client)

    assert len(many) == len(few)


def test_beyond_the_cap_the_count_is_shown_as_a_lower_bound(admin_client, monkeypatch):
    monkeypatch.setattr(BoundedCountPaginator, "CAP", 3)
    CallFactory.create_batch(5, called_number="777")

    html = listed(admin_client, "q=777")

    assert "3+ calls" in html


def test_the_call_page_links_the_calls_url(admin_client, settings):
    settings.PUBLIC_URL = "https://calls.example.com"
    call = CallFactory()

    html = admin_client.get(reverse("admin:calls_call_change", args=[call.pk])).content.decode()

    url = f"https://calls.example.com/verba/gwtCallDetail.do?ccdrId={call.pk}"
    assert f'<a href="{url}">{url}</a>' in html


def test_editing_a_call_in_the_admin_saves_it(admin_client):
    call = CallFactory(keep=False)
    url = reverse("admin:calls_call_change", args=[call.pk])
    form = re.findall(r'name="([a-z_]+)"', admin_client.get(url).content.decode())
    assert "id" not in form  # the id is fixed once the call exists

    local = timezone.localtime(call.started_at)
    end = timezone.localtime(call.ended_at)
    response = admin_client.post(
        url,
        {
            "caller_number": call.caller_number,
            "caller_name": call.caller_name,
            "called_number": call.called_number,
            "called_name": call.called_name,
            "direction": call.direction,
            "started_at_0": local.strftime("%Y-%m-%d"),
            "started_at_1": local.strftime("%H:%M:%S"),
            "ended_at_0": end.strftime("%Y-%m-%d"),
            "ended_at_1": end.strftime("%H:%M:%S"),
            "native_id": call.native_id,
            "platform_call_id": call.platform_call_id,
            "keep": "on",
            "recording_content_type": "",
            **no_inline_forms(),
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    call.refresh_from_db()
    assert call.keep is True


def no_inline_forms(**counts: int) -> dict[str, str]:
    """The management forms of the call page's inlines (custom metadata, markers)."""
    data = {}
    for prefix in ("metadata_values", "markers"):
        data[f"{prefix}-TOTAL_FORMS"] = str(counts.get(prefix, 0))
        data[f"{prefix}-INITIAL_FORMS"] = str(counts.get(prefix, 0))
        data[f"{prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
    return data


# --- CSV export ------------------------------------------------------------------------


def export_text(client) -> str:
    response = client.post(
        EXPORT_URL,
        {
            "format": "0",
            "export_items": [],
            **{f"callresource_{name}": "on" for name in EXPORT_FIELDS},
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode()


def export_csv(client) -> list[dict[str, str]]:
    """The exported rows, each keyed by field name (the file heads them in words)."""
    field_of = {heading: name for name, heading in HEADINGS.items()}
    return [
        {field_of[heading]: value for heading, value in exported.items()}
        for exported in csv.DictReader(io.StringIO(export_text(client)))
    ]


EXPORT_FIELDS = [
    "id",
    "caller_number",
    "caller_name",
    "called_number",
    "called_name",
    "started_at",
    "ended_at",
    "direction",
    "native_id",
    "platform_call_id",
    "keep",
    "metadata",
]


def test_export_defuses_spreadsheet_formulas_but_keeps_phone_numbers(admin_client):
    CallFactory(caller_number="+442070000001", caller_name='=HYPERLINK("http://x","y")')
    CallFactory(caller_number="@SUM(1+1)", caller_name="-2+3", called_name="+cmd|' /C calc'!A0")

    rows = {r["caller_number"]: r for r in export_csv(admin_client)}

    assert "+442070000001" in rows  # a plain E.164 number stays a number
    assert rows["+442070000001"]["caller_name"] == '\'=HYPERLINK("http://x","y")'
    assert rows["'@SUM(1+1)"]["caller_name"] == "'-2+3"
    assert rows["'@SUM(1+1)"]["called_name"] == "'+cmd|' /C calc'!A0"


def test_the_export_is_streamed_with_the_bytes_import_export_would_have_built(admin_client):
    field = MetadataField.objects.create(identifier="ticket", label="Ticket")
    other = MetadataField.objects.create(identifier="agent", label="Agent")
    now = timezone.now()
    tagged = CallFactory(started_at=now - timedelta(hours=1), caller_name='=cmd"x"')
    MetadataValue.objects.create(call=tagged, field=field, value='T-1, "quoted"')
    MetadataValue.objects.create(call=tagged, field=other, value="Zoë")
    CallFactory(started_at=now - timedelta(hours=2), ended_at=None, keep=True)
    CallFactory(started_at=now - timedelta(hours=3), native_id="line\nbreak")
    form = {"format": "0", **{f"callresource_{name}": "on" for name in EXPORT_FIELDS}}

    response = admin_client.post(EXPORT_URL, form)

    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="Call-')
    # import-export's own, in-memory export of the same calls in the admin's order.
    resource = CallResource()
    built = CSV().export_data(
        resource.export(
            queryset=Call.objects.order_by("-started_at", "-pk"),
            export_fields=EXPORT_FIELDS,
            force_native_type=False,
        )
    )
    assert b"".join(response.streaming_content) == built.encode()
    assert '"{""agent"": ""Zoë"", ""ticket"": ""T-1, \\""quoted\\""""}"' in built


@pytest.mark.parametrize(
    "chosen",
    [
        EXPORT_FIELDS,
        ["id", "started_at", "ended_at", "keep"],
        ["metadata", "caller_name", "called_name", "direction"],
        ["metadata"],
    ],
    ids=["all columns", "times and flag", "text and metadata", "metadata only"],
)
@pytest.mark.parametrize("stored", [True, False], ids=["metadata stored", "none stored"])
def test_the_export_writes_byte_for_byte_what_import_export_writes_for_the_same_calls(
    admin_client, chosen, stored
):
    """A golden comparison: the export writes its rows without import-export's per-field
    machinery (calls.resources._rows), and must write exactly the bytes that machinery
    writes, for every column and any choice of columns, over calls with every kind of
    awkward value."""
    ticket = MetadataField.objects.create(identifier="ticket", label="Ticket")
    agent = MetadataField.objects.create(identifier="agent", label="Agent")
    start = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)
    awkward = ["", "=1+1", "+cmd", "-", "-5", "+44", "@x", "\ttab", "a,b", 'q"q', "l\nl", "Zoë 名"]
    for n, text in enumerate(awkward * 2):
        call = CallFactory(
            caller_number=f"+44{n}" if n % 3 else f"{7000 + n}",
            caller_name=text,
            called_name=awkward[-1 - n % len(awkward)],
            started_at=start - timedelta(minutes=7 * n, microseconds=n),
            ended_at=None if n % 5 == 0 else start + timedelta(seconds=n),
            direction=list(Direction)[n % len(Direction)],
            native_id=text,
            platform_call_id="" if n % 4 == 0 else f"{text}@pbx",
            keep=n % 2 == 0,
        )
        if stored and n % 3 == 0:
            MetadataValue.objects.create(call=call, field=ticket, value=text or "T")
        if stored and n % 4 == 0:
            MetadataValue.objects.create(call=call, field=agent, value=f'"{n}"')
    # The form sends only the columns chosen.
    form = {"format": "0", **{f"callresource_{name}": "on" for name in chosen}}

    response = admin_client.post(EXPORT_URL, form)

    resource = CallResource()
    assert _cells(resource, resource.get_export_fields(chosen)) is not None, "the fast way"
    built = CSV().export_data(
        resource.export(
            queryset=Call.objects.order_by("-started_at", "-pk"),
            export_fields=chosen,
            force_native_type=False,
        )
    )
    assert b"".join(response.streaming_content) == built.encode()
    assert built.count("\n") > len(awkward) * 2


def test_export_writes_times_as_iso_8601_utc(admin_client):
    start = datetime(2026, 5, 1, 8, 30, 15, 123000, tzinfo=UTC)
    CallFactory(started_at=start, ended_at=None)

    (row,) = export_csv(admin_client)

    assert row["started_at"] == "2026-05-01T08:30:15.123000+00:00"
    assert row["ended_at"] == ""


def test_export_and_import_need_permission(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_call"))
    client.force_login(clerk)

    assert client.get(EXPORT_URL).status_code == 200
    assert client.get(IMPORT_URL).status_code == 403

    clerk.user_permissions.remove(Permission.objects.get(codename="view_call"))
    assert client.get(EXPORT_URL).status_code == 403


# --- CSV import ------------------------------------------------------------------------


def import_csv(client, rows: list[dict[str, str]], headed=HEADINGS) -> str:
    """Upload, then confirm, as an administrator would; returns the last page's HTML. The
    columns are headed in the site's words, or as `headed` maps field names."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([headed[name] for name in EXPORT_FIELDS])
    for row in rows:
        writer.writerow([row.get(name, "") for name in EXPORT_FIELDS])
    return upload_csv(client, out.getvalue())


def upload_csv(client, text: str) -> str:
    upload = io.BytesIO(text.encode())
    upload.name = "calls.csv"
    preview = client.post(IMPORT_URL, {"resource": "0", "format": "0", "import_file": upload})
    html = preview.content.decode()
    if "import_file_name" not in html:
        return html
    fields = dict(
        re.findall(
            r'name="(import_file_name|original_file_name|format|resource)"[^>]*value="([^"]*)"',
            html,
        )
    )
    confirm = client.post(PROCESS_IMPORT_URL, fields, follow=True)
    return confirm.content.decode()


def row(**values: str) -> dict[str, str]:
    base = {
        "id": str(uuid.uuid4()),
        "caller_number": "+15551230000",
        "called_number": "8856",
        "started_at": "2026-04-01T10:00:00+00:00",
        "ended_at": "2026-04-01T10:05:00+00:00",
        "direction": "inbound",
        "keep": "0",
    }
    base.update(values)
    return base


def test_importing_the_same_file_twice_gives_one_call_per_id(admin_client):
    rows = [row(), row(caller_number="+15551239999", ended_at="")]

    import_csv(admin_client, rows)
    second = import_csv(admin_client, rows)

    assert Call.objects.count() == 2
    assert "Import finished" in second or "skipped" in second.lower()
    ongoing = Call.objects.get(caller_number="+15551239999")
    assert ongoing.ended_at is None
    assert ongoing.started_at == datetime(2026, 4, 1, 10, tzinfo=UTC)


def test_an_import_updates_calls_by_id(admin_client):
    call = CallFactory(keep=False, caller_name="Before")

    import_csv(
        admin_client,
        [
            row(
                id=str(call.pk),
                caller_number=call.caller_number,
                called_number=call.called_number,
                caller_name="After",
                started_at=call.started_at.isoformat(),
                ended_at=call.ended_at.isoformat(),
                keep="1",
            )
        ],
    )

    call.refresh_from_db()
    assert call.caller_name == "After"
    assert call.keep is True
    assert Call.objects.count() == 1


# The export's header row, byte for byte. A file format other systems read: changing it is
# deliberate, and docs/admin.md says what the names were before.
HEADER_ROW = (
    b"Call ID,Caller number,Caller name,Called party number,Called party name,Start,End,"
    b"Direction,Native ID,Platform call ID,Keep,Custom metadata\r\n"
)
EARLIER_HEADER_ROW = (
    b"id,caller_number,caller_name,called_number,called_name,started_at,ended_at,"
    b"direction,native_id,platform_call_id,keep,metadata\r\n"
)


def test_the_export_heads_its_columns_in_the_sites_words(admin_client):
    CallFactory()

    exported = export_text(admin_client).encode()

    assert exported.startswith(HEADER_ROW)


def test_a_file_exported_before_the_headings_changed_still_imports(admin_client):
    call = CallFactory(caller_name="Before", keep=False)
    earlier = {name: name for name in EXPORT_FIELDS}
    assert ",".join(earlier[name] for name in EXPORT_FIELDS).encode() + b"\r\n" == (
        EARLIER_HEADER_ROW
    )
    changed = row(
        id=str(call.pk),
        caller_number=call.caller_number,
        called_number=call.called_number,
        caller_name="After",
        started_at=call.started_at.isoformat(),
        ended_at=call.ended_at.isoformat(),
        keep="1",
    )

    import_csv(admin_client, [changed, row(caller_number="+15550001111")], headed=earlier)

    call.refresh_from_db()
    assert call.caller_name == "After" and call.keep is True
    assert Call.objects.filter(caller_number="+15550001111").exists()


def test_the_export_page_names_its_columns_and_button_in_the_sites_words(admin_client):
    html = admin_client.get(EXPORT_URL).content.decode()
    labels = re.findall(r'<label for="id_callresource_\w+">([^<]*)</label>', html)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))

    assert labels == [HEADINGS[name] for name in EXPORT_FIELDS]
    for raw in ("Native Id", "Platform Call Id", "Started At", "caller_number"):
        assert raw not in text
    assert 'value="Export"' in html
    assert 'value="Submit"' not in html


def test_the_import_page_lists_its_columns_in_the_sites_words(admin_client):
    page = admin_client.get(IMPORT_URL).content.decode()

    assert "Call ID, Caller number, Caller name, Called party number" in page
    assert "caller_number" not in page


def test_import_errors_are_reported_per_row_and_nothing_is_written(admin_client):
    html = import_csv(
        admin_client,
        [
            row(),
            row(id="not-a-guid"),
            row(ended_at="2026-04-01T09:00:00+00:00"),
            row(caller_number=""),
        ],
    )

    assert Call.objects.count() == 0
    # Each message is written out (no count to hover) under the row of the line it is
    # about, in the same table body, naming the column as the file heads it.
    rows = re.findall(r'<tbody class="invalid-row">.*?</tbody>', html, flags=re.S)

    def row_with(message: str) -> str:
        (found,) = [r for r in rows if message in r]
        return found.replace("<wbr>", "")  # the break points the preview adds

    assert "not-a-guid" in row_with("Call ID: The id must be a GUID in the form")
    assert "09:00:00" in row_with("End: The end cannot be before the start.")
    # Numbered by file line, as import_calls numbers them: the header is line 1.
    assert "Line 5, Caller number: This field must be 1 to 64 characters" in html
    assert ">3<" in row_with("Line 3, Call ID: The id must be a GUID").replace(" ", "")
    assert "validation-error-count" not in html


@pytest.mark.django_db(transaction=True)  # import_calls writes from its own thread
def test_both_imports_read_a_time_without_an_offset_as_utc(admin_client, settings, tmp_path):
    settings.TIME_ZONE = "Europe/Berlin"
    naive = {"started_at": "2026-04-01 10:00:00", "ended_at": "2026-04-01T10:05:00"}
    by_admin = row(**naive)
    by_command = row(**naive)
    import_csv(admin_client, [by_admin])
    path = tmp_path / "calls.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        writer.writerow({name: by_command.get(name, "") for name in EXPORT_FIELDS})
    call_command("import_calls", str(path), "--no-progress", stdout=io.StringIO())

    for imported in (by_admin, by_command):
        call = Call.objects.get(pk=imported["id"])
        assert call.started_at == datetime(2026, 4, 1, 10, tzinfo=UTC)
        assert call.ended_at == datetime(2026, 4, 1, 10, 5, tzinfo=UTC)


def test_an_exported_file_imports_back_unchanged(admin_client):
    CallFactory(caller_name="=1+2", caller_number="+4420123")
    exported = export_text(admin_client)
    Call.objects.all().delete()

    upload_csv(admin_client, exported)

    call = Call.objects.get()
    assert call.caller_name == "=1+2"
    assert call.caller_number == "+4420123"


def test_pages_stop_at_the_cap_and_a_page_past_the_end_shows_the_last(admin_client, monkeypatch):
    monkeypatch.setattr(BoundedCountPaginator, "CAP", 4)
    monkeypatch.setattr("calls.admin.CallAdmin.list_per_page", 2)
    now = timezone.now()
    for minutes in range(8):
        CallFactory(caller_number=f"N{minutes}", started_at=now - timedelta(minutes=minutes + 1))

    html = listed(admin_client, "q=8856")
    past_the_end = listed(admin_client, "q=8856&p=40")

    assert "4+ calls" in html
    assert "p=2" in html and "p=3" not in html  # two pages of two: the first four rows
    assert "N2" in past_the_end and "N3" in past_the_end  # the last page offered


def test_the_import_pages_button_says_what_it_does(admin_client):
    page = admin_client.get(IMPORT_URL).content.decode()

    assert 'value="Preview import"' in page
    assert 'value="Submit"' not in page
