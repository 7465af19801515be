"""CSV import and export of calls in the admin (django-import-export).

- Idempotent by `id`: importing the same file twice changes nothing the second time.
- Every write goes through calls.services, like the ingestion API's.
- Spreadsheet formulas are defused on export and restored on import (see `escape_cell`).
- The export's `metadata` column holds the call's custom metadata as a JSON object ordered
  by identifier (one column, whatever fields exist); imports ignore it.
- The admin's CSV export is streamed (`csv_chunks`): rows are read a chunk at a time and
  written out as they come, so ten million calls take as little memory as ten.
"""

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from import_export import fields, resources, widgets

from calls import cdr_csv, rules
from calls.models import Call, MetadataValue
from calls.services import WRITABLE_FIELDS, upsert_call
from shared.spreadsheets import escape_cell, unescape_cell

# The streamed export sends its text in pieces of about this size.
CSV_CHUNK_BYTES = 64 * 1024
# ... and reads the calls this many at a time (a FETCH from the server-side cursor, and one
# query for their metadata): import-export's 100 made the round trips most of the time.
EXPORT_CHUNK_ROWS = 2000


class GuidWidget(widgets.Widget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> uuid.UUID:
        # A ValidationError (not ValueError): the id is read before the row's other fields,
        # and only a ValidationError lets the import go on to report every other row too.
        text = str(value or "").strip()
        if not text:
            raise ValidationError({"id": "A call needs an id (a GUID)."})
        try:
            return rules.guid(text)
        except rules.Refused as refused:
            raise ValidationError({"id": refused.sentence("The id")}) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else str(value)


class IsoDateTimeWidget(widgets.Widget):
    """ISO 8601 with offset, in UTC, to the microsecond: no precision or zone is lost.

    Read like `import_calls` reads it (cdr_csv.parse_time): without an offset, UTC.
    """

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> datetime | None:
        if isinstance(value, datetime):
            return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
        text = str(value or "").strip()
        if not text:
            return None
        try:
            return cdr_csv.parse_time(text)
        except ValueError:
            raise ValueError("Use ISO 8601, e.g. 2026-11-26T14:05:00+00:00.") from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return "" if value is None else value.astimezone(UTC).isoformat()


HEADINGS = cdr_csv.HEADINGS


class CallResource(resources.ModelResource):
    id = fields.Field(attribute="id", column_name=HEADINGS["id"], widget=GuidWidget())
    started_at = fields.Field(
        attribute="started_at", column_name=HEADINGS["started_at"], widget=IsoDateTimeWidget()
    )
    ended_at = fields.Field(
        attribute="ended_at", column_name=HEADINGS["ended_at"], widget=IsoDateTimeWidget()
    )
    metadata = fields.Field(column_name=HEADINGS["metadata"], readonly=True)

    class Meta:
        model = Call
        fields = ("id", *WRITABLE_FIELDS, "metadata")
        export_order = fields
        import_id_fields = ("id",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    @classmethod
    def field_from_django_field(
        cls, field_name: str, django_field: Any, readonly: bool
    ) -> fields.Field:
        # Every column is headed in the site's words (cdr_csv.HEADINGS), not the field's name.
        field = super().field_from_django_field(field_name, django_field, readonly)
        field.column_name = HEADINGS[field_name]
        return field

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        # A file exported before the headings (`caller_number`…), or headed like Verba's
        # export, imports as it did: each column the import knows (cdr_csv.COLUMNS, the one
        # mapping `import_calls` reads too) is renamed to its heading; others are left alone.
        headers = []
        for name in dataset.headers or []:
            field = cdr_csv.field_of(str(name))
            headers.append(HEADINGS[field] if field else name)
        if dataset.headers:
            dataset.headers = headers
        super().before_import(dataset, **kwargs)

    def import_data(self, *args: Any, **kwargs: Any) -> Any:
        result = super().import_data(*args, **kwargs)
        # Rows are reported by file line, as `import_calls` reports them.
        for invalid in result.invalid_rows:
            invalid.number = cdr_csv.line_number(invalid.number)
        for failed in result.error_rows:
            failed.number = cdr_csv.line_number(failed.number)
            for error in failed.errors:
                error.number = failed.number
        return result

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        for name in list(row.keys()):
            if isinstance(row[name], str):
                row[name] = unescape_cell(row[name])

    def import_instance(self, instance: Call, row: Any, **kwargs: Any) -> None:
        super().import_instance(instance, row, **kwargs)
        # The input rules every entry point reads a call with (the model's own validation,
        # run after this, knows the lengths but not the rest).
        values = {name: getattr(instance, name) for name in WRITABLE_FIELDS}
        errors = rules.clean_fields(values)
        if errors:
            raise ValidationError(errors)
        for name, value in values.items():
            setattr(instance, name, value)

    def do_instance_save(self, instance: Call, is_create: bool) -> None:
        # Through the service: the same rules as the ingestion API, and `next` long polls
        # waiting on the call's numbers are woken after commit.
        upsert_call(instance.pk, {name: getattr(instance, name) for name in WRITABLE_FIELDS})

    def filter_export(self, queryset: QuerySet, **kwargs: Any) -> QuerySet:
        values = MetadataValue.objects.select_related("field").order_by("field__identifier")
        return queryset.prefetch_related(Prefetch("metadata_values", queryset=values))

    def iter_queryset(self, queryset: QuerySet) -> Any:
        # Django's iterator() prefetches per chunk; import-export's own fallback for
        # prefetching pages with OFFSET, which slows down quadratically on large exports.
        yield from queryset.iterator(chunk_size=self.get_chunk_size())

    def csv_chunks(
        self, queryset: QuerySet, export_fields: list[str] | None = None, **kwargs: Any
    ) -> Iterator[str]:
        """The CSV export of `queryset`, piece by piece: the same text as `export()` turned
        into CSV by import-export (tablib writes each row with csv.writer, as here), without
        ever holding more than a chunk of calls and CHUNK_BYTES of text.

        The cells are written by `_cells` from the rows' values (`values_list`, read through
        a server-side cursor on PostgreSQL) with what each column's widget would write:
        import-export's per-field machinery (a widget, `export_field` and a dehydrate
        lookup per cell, a model instance per row) managed 2,000–5,000 rows a second. A
        column `_cells` does not know (a field added to the resource later) sends the whole
        export the resource's way, which writes the same text, slowly.
        """
        self.before_export(queryset, **kwargs)
        exported = self.get_export_fields(export_fields)
        cells = _cells(self, exported)
        rows: Iterator[list[Any]]
        if cells is None:
            rows = (
                self.export_resource(call, selected_fields=export_fields, **kwargs)
                for call in self.iter_queryset(self.filter_export(queryset, **kwargs))
            )
        else:
            rows = _rows(queryset, exported, cells, EXPORT_CHUNK_ROWS)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=",")
        writer.writerow(self.get_export_headers(selected_fields=export_fields))
        for row in rows:
            writer.writerow(row)
            if buffer.tell() >= CSV_CHUNK_BYTES:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def dehydrate_metadata(self, call: Call) -> str:
        values = {v.field.identifier: v.value for v in call.metadata_values.all()}
        return json.dumps(values, ensure_ascii=False) if values else ""

    def export_field(self, field: fields.Field, instance: Call, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        return escape_cell(value) if isinstance(value, str) else value


# --- the export's rows, written without the resource's per-field machinery -----------------


def _text(value: Any) -> str:
    return "" if value is None else escape_cell(str(value))


def _guid(value: Any) -> str:
    return "" if value is None else str(value)


def _moment(value: Any) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def _flag(value: Any) -> str:
    return "" if type(value) is not bool else ("1" if value else "0")


# What each widget writes for a value (its `render`, then `export_field`'s escape_cell): a
# GUID, an ISO time and a flag never start like a formula, so only text is escaped.
_WRITERS: dict[type[widgets.Widget], Any] = {
    widgets.CharWidget: _text,
    GuidWidget: _guid,
    IsoDateTimeWidget: _moment,
    widgets.BooleanWidget: _flag,
}
METADATA = "metadata"


def _cells(resource: "CallResource", exported: list[fields.Field]) -> list[Any] | None:
    """How to write each exported column from its database value, or None when a column
    is not one of those (then only the resource knows how to write it)."""
    writers: list[Any] = []
    for field in exported:
        name = resource.get_field_name(field)
        if name == METADATA:
            writers.append(None)
            continue
        writer = _WRITERS.get(type(field.widget))
        own_method = getattr(resource, f"dehydrate_{name}", None) or field.dehydrate_method
        if writer is None or own_method or not field.attribute or "__" in field.attribute:
            return None
        writers.append(writer)
    return writers


def _rows(
    queryset: QuerySet, exported: list[fields.Field], cells: list[Any], chunk_size: int
) -> Iterator[list[str]]:
    """The export's rows of `queryset`, in its order, a chunk of calls at a time."""
    columns = [field.attribute for field, cell in zip(exported, cells, strict=True) if cell]
    # Without any metadata stored, no chunk needs its query, nor the calls' ids for it (a
    # GUID column costs a UUID and its text per row).
    with_metadata = None in cells and MetadataValue.objects.exists()
    keyed = with_metadata or not columns
    values = queryset.values_list(*(["pk", *columns] if keyed else columns))
    rows = values.iterator(chunk_size=chunk_size)
    while chunk := list(islice(rows, chunk_size)):
        metadata = _metadata([row[0] for row in chunk]) if with_metadata else {}
        for row in chunk:
            column = iter(row)
            pk = next(column) if keyed else None
            yield [
                cell(next(column)) if cell else escape_cell(metadata.get(pk, "")) for cell in cells
            ]


def _metadata(call_ids: list[Any]) -> dict[Any, str]:
    """`dehydrate_metadata`'s text for each of these calls that has metadata."""
    found: dict[Any, dict[str, str]] = {}
    rows = (
        MetadataValue.objects.filter(call_id__in=call_ids)
        .order_by("field__identifier")
        .values_list("call_id", "field__identifier", "value")
    )
    for call_id, identifier, value in rows:
        found.setdefault(call_id, {})[identifier] = value
    return {pk: json.dumps(values, ensure_ascii=False) for pk, values in found.items()}
