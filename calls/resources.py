"""CSV import and export of calls in the admin (django-import-export).

- Idempotent by `id`: importing the same file twice changes nothing the second time.
- Every write goes through calls.services, like the ingestion API's.
- Spreadsheet formulas are defused on export and restored on import (see `escape_cell`).
- The export's `metadata` column holds the call's custom metadata as a JSON object ordered
  by identifier (one column, whatever fields exist); imports ignore it.
- The admin's CSV export is streamed (`csv_chunks`): rows are read a chunk at a time and
  written out as they come, so ten million calls take as little memory as ten; each chunk
  is written on the CPU pool, off the gevent loop, and no connection is held while the
  client reads.
"""

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Prefetch, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from import_export import fields, resources, widgets

from calls import cdr_csv, rules
from calls.models import Call, MetadataValue
from calls.services import WRITABLE_FIELDS, upsert_call
from shared import cpu_pool
from shared.spreadsheets import FORMULA_STARTS, escape_cell, unescape_cell

# The streamed export reads the calls this many at a time (a FETCH from the server-side
# cursor, and one query for their metadata: import-export's 100 made the round trips most
# of the time), and writes each chunk's text on the CPU pool, as one piece.
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
        # Every row's cells are read and checked now, on the CPU pool a chunk at a time (see
        # `_prepare_rows`); the rows are then imported one by one with what was prepared.
        self._prepared = self._prepare(dataset)

    def _prepare(self, dataset: Any) -> dict[int, "_Prepared"]:
        headers = list(dataset.headers or [])
        importing = [
            field
            for field in self.get_import_fields()
            if field.attribute
            and not field.readonly
            and "__" not in field.attribute
            and not isinstance(field.widget, widgets.ManyToManyWidget)
        ]
        rows = list(dataset)
        prepared: dict[int, _Prepared] = {}
        for start in range(0, len(rows), IMPORT_CHUNK_ROWS):
            chunk = rows[start : start + IMPORT_CHUNK_ROWS]
            prepared.update(cpu_pool.run(_prepare_rows, headers, chunk, start + 1, importing))
        return prepared

    def _prepared_for(self, row: Any, kwargs: dict[str, Any]) -> "_Prepared | None":
        prepared = getattr(self, "_prepared", {}).get(kwargs.get("row_number"))
        return prepared if prepared is not None and prepared.source == row else None

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
        prepared = self._prepared_for(row, kwargs)
        if prepared is not None:
            row.update(prepared.row)
            prepared.source = row  # the row as import_instance will see it
            return
        row.update(_unescaped(row))

    def import_instance(self, instance: Call, row: Any, **kwargs: Any) -> None:
        prepared = self._prepared_for(row, kwargs)
        if prepared is None:
            super().import_instance(instance, row, **kwargs)
        else:
            # What import-export's import_instance does (each field's `save`), with the
            # values cleaned on the pool.
            if prepared.raised is not None:
                raise prepared.raised
            for name, value in prepared.cleaned.items():
                setattr(instance, name, value)
            if prepared.field_errors:
                raise ValidationError(
                    {
                        name: ValidationError(message, code="invalid")
                        for name, message in prepared.field_errors.items()
                    }
                )
        # The input rules every entry point reads a call with (the model's own validation,
        # run after this, knows the lengths but not the rest).
        values = {name: getattr(instance, name) for name in WRITABLE_FIELDS}
        if prepared is not None and prepared.checked is not None and prepared.checked[0] == values:
            errors, values = prepared.checked[1], dict(prepared.checked[2])
        else:
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
        ever holding more than a chunk of calls.

        The calls are read EXPORT_CHUNK_ROWS at a time (on PostgreSQL a FETCH from a
        server-side cursor, if the caller reads inside a transaction) and each chunk's text
        is made on the CPU pool (shared/cpu_pool.py), not on the gevent loop, which meanwhile
        serves every other request of the worker: the reading and writing take turns, one
        chunk each.

        The cells are written column by column (`_cells`) from the rows' values
        (`values_list`) with what each column's widget would write: import-export's per-field
        machinery (a widget, `export_field` and a dehydrate lookup per cell, a model instance
        per row) managed 2,000–5,000 rows a second. A column `_cells` does not know (a field
        added to the resource later) sends the whole export the resource's way, which writes
        the same text, slowly (still a chunk at a time, on the pool).
        """
        self.before_export(queryset, **kwargs)
        exported = self.get_export_fields(export_fields)
        yield _csv_text([self.get_export_headers(selected_fields=export_fields)])
        cells = _cells(self, exported)
        if cells is None:
            calls = self.iter_queryset(self.filter_export(queryset, **kwargs))
            while chunk := list(islice(calls, EXPORT_CHUNK_ROWS)):
                # Their metadata is prefetched with the chunk: no query from the pool.
                yield cpu_pool.run(self._resource_text, chunk, export_fields, kwargs)
            return
        # PostgreSQL writes a GUID as its text itself: read as a UUID, each one costs an
        # object on the way in and its text on the way out, most of the reading's time.
        as_text = connections[queryset.db].vendor == "postgresql"

        def column(name: str, cell: Any) -> Any:
            return Cast(name, TextField()) if as_text and cell is _guid else name

        columns = [
            column(field.attribute, cell)
            for field, cell in zip(exported, cells, strict=True)
            if cell
        ]
        # Without any metadata stored, no chunk needs its query, nor the calls' ids for it.
        with_metadata = None in cells and MetadataValue.objects.exists()
        keyed = with_metadata or not columns
        values = queryset.values_list(*([column("pk", _guid), *columns] if keyed else columns))
        rows = values.iterator(chunk_size=EXPORT_CHUNK_ROWS)
        # The next chunk is read while the pool writes the one before: the database and the
        # pool work at the same time.
        writing: cpu_pool.Pending[str] | None = None
        while chunk := list(islice(rows, EXPORT_CHUNK_ROWS)):
            metadata = _metadata([row[0] for row in chunk]) if with_metadata else {}
            written = cpu_pool.submit(_chunk_text, chunk, keyed, metadata, cells)
            if writing is not None:
                yield writing.result()
            writing = written
        if writing is not None:
            yield writing.result()

    def _resource_text(
        self, calls: list[Call], export_fields: list[str] | None, kwargs: Any
    ) -> str:
        return _csv_text(
            self.export_resource(call, selected_fields=export_fields, **kwargs) for call in calls
        )

    def dehydrate_metadata(self, call: Call) -> str:
        values = {v.field.identifier: v.value for v in call.metadata_values.all()}
        return json.dumps(values, ensure_ascii=False) if values else ""

    def export_field(self, field: fields.Field, instance: Call, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        return escape_cell(value) if isinstance(value, str) else value


# --- the export's rows, written without the resource's per-field machinery -----------------

# Each column is written from its database values by one list comprehension (what each
# widget's `render` and then `export_field`'s escape_cell would write, cell by cell): no
# function call per cell. A GUID, an ISO time and a flag never start like a formula, so only
# text is escaped.


def _text(values: list[Any]) -> list[str]:
    return [
        "" if v is None else (escape_cell(v) if v.startswith(FORMULA_STARTS) else v) for v in values
    ]


def _guid(values: list[Any]) -> list[str]:
    # A UUID, or already its text (read so from PostgreSQL).
    return ["" if v is None else str(v) for v in values]


def _moment(values: list[Any]) -> list[str]:
    # The database hands times back in UTC already (Django's connections are set to it).
    return [
        "" if v is None else (v.isoformat() if v.tzinfo is UTC else v.astimezone(UTC).isoformat())
        for v in values
    ]


def _flag(values: list[Any]) -> list[str]:
    return ["1" if v is True else "0" if v is False else "" for v in values]


_WRITERS: dict[type[widgets.Widget], Callable[[list[Any]], list[str]]] = {
    widgets.CharWidget: _text,
    GuidWidget: _guid,
    IsoDateTimeWidget: _moment,
    widgets.BooleanWidget: _flag,
}
METADATA = "metadata"


def _cells(
    resource: "CallResource", exported: list[fields.Field]
) -> list[Callable[[list[Any]], list[str]] | None] | None:
    """How to write each exported column from its database values (None: the metadata
    column), or None when a column is not one of those (then only the resource knows how to
    write it)."""
    writers: list[Callable[[list[Any]], list[str]] | None] = []
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


def _chunk_text(
    rows: list[tuple[Any, ...]],
    keyed: bool,
    metadata: dict[Any, dict[str, str]],
    cells: list[Callable[[list[Any]], list[str]] | None],
) -> str:
    """The CSV text of a chunk's `rows` (the call's id first when `keyed`, then each written
    column's value); on the CPU pool."""
    values = list(zip(*rows, strict=True))
    ids = values.pop(0) if keyed else ()
    columns: list[list[str]] = []
    at = 0
    for cell in cells:
        if cell is None:
            # `dehydrate_metadata`'s text, escaped as `export_field` escapes every text.
            texts = {pk: json.dumps(found, ensure_ascii=False) for pk, found in metadata.items()}
            columns.append(_text([texts.get(pk, "") for pk in ids]) if keyed else [""] * len(rows))
        else:
            columns.append(cell(list(values[at])))
            at += 1
    return _csv_text(zip(*columns, strict=True))


def _csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """`rows` as tablib writes them (csv.writer, its default dialect)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=",").writerows(rows)
    return buffer.getvalue()


def _metadata(call_ids: list[Any]) -> dict[Any, dict[str, str]]:
    """The metadata of these calls that have any, by identifier in order."""
    found: dict[Any, dict[str, str]] = {}
    rows = (
        MetadataValue.objects.filter(call_id__in=call_ids)
        .order_by("field__identifier")
        .values_list("call_id", "field__identifier", "value")
    )
    # Keyed as the chunk's ids are given (a UUID, or its text).
    as_text = bool(call_ids) and isinstance(call_ids[0], str)
    for call_id, identifier, value in rows:
        found.setdefault(str(call_id) if as_text else call_id, {})[identifier] = value
    return found


# --- the import's rows, read and checked on the CPU pool -----------------------------------

# The import reads and checks its rows this many at a time on the CPU pool.
IMPORT_CHUNK_ROWS = 500


def _unescaped(row: dict[str, Any]) -> dict[str, Any]:
    """`before_import_row`'s work: each text cell as it was before `escape_cell`."""
    return {name: unescape_cell(value) for name, value in row.items() if isinstance(value, str)}


@dataclass
class _Prepared:
    """One import row, read and checked ahead of its import (`_prepare_rows`)."""

    source: dict[str, Any]  # the row as import-export hands it to the hooks
    row: dict[str, Any]  # its unescaped cells
    cleaned: dict[str, Any]  # each field's value, as its widget read it
    field_errors: dict[str, str]  # the fields whose widget refused their cell
    raised: Exception | None  # what a widget raised besides (the row fails with it)
    # The rules' verdict on the call's fields, when the row gives them all: the values
    # checked, the refusals, the cleaned values.
    checked: tuple[dict[str, Any], dict[str, str], dict[str, Any]] | None


def _prepare_rows(
    headers: list[str], rows: list[Any], first_number: int, importing: list[fields.Field]
) -> dict[int, _Prepared]:
    """What the import's hooks would work out for each of `rows` (numbered from
    `first_number`, as import-export numbers them), without the database: the unescaped
    cells, each field's widget's reading, and the input rules' verdict. On the CPU pool; the
    hooks use it only for the very row it was made from."""
    prepared: dict[int, _Prepared] = {}
    for number, data in enumerate(rows, first_number):
        source = dict(zip(headers, data, strict=False))
        row = {**source, **_unescaped(source)}
        cleaned: dict[str, Any] = {}
        field_errors: dict[str, str] = {}
        raised: Exception | None = None
        for field in importing:
            if field.column_name not in row:
                continue
            try:
                value = field.clean(row)
            except ValueError as error:
                field_errors[field.attribute] = str(error)
                continue
            except Exception as error:  # the row's failure, raised again in its hook
                raised = error
                break
            if value is not None or field.saves_null_values:
                cleaned[field.attribute] = value
        checked = None
        if raised is None and not field_errors and all(n in cleaned for n in WRITABLE_FIELDS):
            values = {name: cleaned[name] for name in WRITABLE_FIELDS}
            given = dict(values)
            checked = (given, rules.clean_fields(values), values)
        prepared[number] = _Prepared(source, row, cleaned, field_errors, raised, checked)
    return prepared
