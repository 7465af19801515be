"""manage.py import_calls: what an administrator loading a CDR export sees."""

import io
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from calls.models import Call, Direction
from calls.tests.factories import CallFactory

# The import writes on a thread with its own connection, as it does in production.
pytestmark = pytest.mark.django_db(transaction=True)

ID_1 = "11111111-1111-4111-8111-111111111111"
ID_2 = "22222222-2222-4222-8222-222222222222"
ID_3 = "33333333-3333-4333-8333-333333333333"

VERBA = (
    "ccdr_id,native_id,source_caller_id,source_name,destination_caller_id,destination_name,"
    "start_time,end_time,direction_id,platform_call_id,do_not_delete,location\n"
    f"{ID_1},n-1,+442071234567,Ada Lovelace,8856,Help desk,"
    "2026-11-20 09:00:00.250,2026-11-20 09:05:00.000,PSTN In,p-1@pbx,0,rec-01\n"
    f"{ID_2},n-2,8856,Help desk,+3312345678,,2026-11-20 10:00:00.000,,PSTN Out,p-2@pbx,1,rec-01\n"
)

OURS = (
    "id,caller_number,called_number,started_at,ended_at,direction,keep\n"
    f"{ID_1},100,200,2026-11-20T09:00:00+01:00,2026-11-20T09:01:00+01:00,internal,true\n"
)


def import_file(tmp_path, content, *args, encoding="utf-8"):
    path = tmp_path / "calls.csv"
    path.write_bytes(content.encode(encoding))
    out = io.StringIO()
    call_command("import_calls", str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_imports_a_verba_cdr_export(tmp_path):
    output = import_file(tmp_path, VERBA)

    assert "created 2, updated 0, unchanged 0, rejected 0" in output
    first = Call.objects.get(pk=ID_1)
    assert first.caller_number == "+442071234567"
    assert first.caller_name == "Ada Lovelace"
    assert first.called_number == "8856"
    assert first.started_at == datetime(2026, 11, 20, 9, 0, 0, 250000, tzinfo=UTC)
    assert first.ended_at == datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    assert first.direction == Direction.INBOUND
    assert first.native_id == "n-1"
    assert first.platform_call_id == "p-1@pbx"
    second = Call.objects.get(pk=ID_2)
    assert second.ended_at is None
    assert second.keep is True
    assert second.direction == Direction.OUTBOUND
    assert "Ignoring columns: location" in output


def test_it_imports_our_own_column_names_and_honours_utc_offsets(tmp_path):
    import_file(tmp_path, OURS)

    call = Call.objects.get(pk=ID_1)
    assert call.started_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert call.direction == Direction.INTERNAL
    assert call.keep is True


def test_running_it_twice_on_one_file_creates_no_duplicates(tmp_path):
    import_file(tmp_path, VERBA)
    first = {c.pk: c.updated_at for c in Call.objects.all()}

    output = import_file(tmp_path, VERBA)

    assert "created 0, updated 0, unchanged 2, rejected 0" in output
    assert {c.pk: c.updated_at for c in Call.objects.all()} == first


def test_a_changed_row_updates_the_call_and_keeps_what_the_file_does_not_give(tmp_path):
    CallFactory(id=ID_1, caller_name="Kept name", native_id="kept-native", keep=False)

    output = import_file(tmp_path, OURS)

    assert "created 0, updated 1, unchanged 0" in output
    call = Call.objects.get(pk=ID_1)
    assert call.caller_number == "100"
    assert call.keep is True
    assert call.caller_name == "Kept name"
    assert call.native_id == "kept-native"


def test_rejected_rows_are_listed_with_line_and_reason_and_the_rest_lands(tmp_path):
    content = (
        "id,caller_number,called_number,started_at,ended_at\n"
        f"{ID_1},100,200,2026-11-20 09:00:00,\n"
        "not-a-guid,100,200,2026-11-20 09:00:00,\n"
        f"{ID_2},,200,2026-11-20 09:00:00,\n"
        f"{ID_3},100,200,yesterday,\n"
        f"{uuid.uuid4()},100,200,2026-11-20 09:00:00,2026-11-20 08:00:00\n"
        f"{uuid.uuid4()},100,200\n"
        f"{uuid.uuid4()},{'9' * 65},200,2026-11-20 09:00:00,\n"
        f"{uuid.uuid4()},100,200,2026-11-20 10:00:00,\n"
    )

    output = import_file(tmp_path, content, "--batch-size", "2")

    assert "line 3: id: “not-a-guid” is not a GUID" in output
    assert "line 4: caller_number: must be 1 to 64 characters, without control characters" in output
    assert "line 5: started_at: “yesterday” is not a date and time" in output
    assert "line 6: ended_at: The end cannot be before the start." in output
    assert "line 7: expected 5 columns, found 3" in output
    assert "line 8: caller_number: must be 1 to 64 characters, without control characters" in output
    assert "created 2, updated 0, unchanged 0, rejected 6" in output
    assert Call.objects.count() == 2


def test_line_numbers_count_the_lines_of_quoted_multi_line_values(tmp_path):
    content = (
        "id,caller_number,notes,called_number,started_at\n"
        f'{ID_1},100,"Two\nlines",200,2026-11-20 09:00:00\n'
        f"{ID_2},100,x,200,later\n"
    )

    output = import_file(tmp_path, content)

    assert "line 4: started_at:" in output
    assert Call.objects.filter(pk=ID_1).exists()


def test_a_later_row_with_the_same_id_wins(tmp_path):
    content = (
        "id,caller_number,called_number,started_at\n"
        f"{ID_1},100,200,2026-11-20 09:00:00\n"
        f"{ID_1},101,200,2026-11-20 09:00:00\n"
    )

    output = import_file(tmp_path, content)

    assert "created 1, updated 1" in output
    assert Call.objects.get().caller_number == "101"


def test_batches_smaller_than_the_file_import_every_row(tmp_path):
    lines = ["id,caller_number,called_number,started_at"]
    ids = [uuid.uuid4() for _ in range(25)]
    lines += [f"{i},{n},200,2026-11-20 09:00:{n:02d}" for n, i in enumerate(ids)]

    output = import_file(tmp_path, "\n".join(lines) + "\n", "--batch-size", "4")

    assert "created 25" in output
    assert set(Call.objects.values_list("id", flat=True)) == set(ids)


def test_a_file_lacking_a_required_column_is_refused_naming_it(tmp_path):
    with pytest.raises(CommandError, match="started_at/start_time"):
        import_file(tmp_path, "id,caller_number,called_number\n")
    assert not Call.objects.exists()


def test_a_column_given_twice_is_refused(tmp_path):
    with pytest.raises(CommandError, match="both give id"):
        import_file(tmp_path, "id,ccdr_id,caller_number,called_number,started_at\n")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot open"):
        call_command("import_calls", str(tmp_path / "nope.csv"), stdout=io.StringIO())


def test_a_file_in_another_encoding_is_refused_with_a_hint(tmp_path):
    content = "id,caller_number,caller_name,called_number,started_at\n" + (
        f"{ID_1},100,Zoë Müller,200,2026-11-20 09:00:00\n"
    )

    with pytest.raises(CommandError, match="--encoding"):
        import_file(tmp_path, content, encoding="latin-1")

    import_file(tmp_path, content, "--encoding", "latin-1", encoding="latin-1")
    assert Call.objects.get().caller_name == "Zoë Müller"


def test_a_byte_order_mark_and_header_case_are_accepted(tmp_path):
    content = "\ufeffCCDR_ID;Source_Caller_ID;Destination_Caller_ID;Start_Time\n" + (
        f"{ID_1};100;200;2026-11-20 09:00:00\n"
    )

    output = import_file(tmp_path, content, "--delimiter", ";")

    assert "created 1" in output


def test_on_a_terminal_it_shows_a_progress_bar_with_rate(tmp_path, monkeypatch):
    path = tmp_path / "calls.csv"
    path.write_text(VERBA)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(err, "isatty", lambda: True, raising=False)

    call_command("import_calls", str(path), stdout=io.StringIO())

    assert "rows/s" in err.getvalue()
    assert "Importing" in err.getvalue()


def test_without_a_terminal_there_is_no_progress_bar(tmp_path, capsys):
    path = tmp_path / "calls.csv"
    path.write_text(VERBA)

    call_command("import_calls", str(path), stdout=io.StringIO())

    assert "Importing" not in capsys.readouterr().err
