"""Many rows in one statement, without model instances: for batch writes on hot paths.

`bulk_create` builds a model instance per row and prepares every value through the ORM's
generic machinery; a retention batch writes thousands of rows into three tables, and that
Python work cost more than the database's (bench/retention.py). Here each value goes
through its field's own `get_db_prep_save` only (so UUIDs and datetimes are stored as the
ORM stores them on every database), and the rows go out as multi-row INSERTs and
DELETE ... IN lists sized below SQLite's variable limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

from shared.model_fields import concrete_field

# SQLite's default limit of variables per statement (32,766 since 3.32), with room to spare.
MAX_VARIABLES = 30_000


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """INSERT `rows` (values in the order of `fields`) into `model`'s table; returns how many."""
    meta = model._meta
    columns = [concrete_field(model, name) for name in fields]
    quote = connection.ops.quote_name
    head = (
        # Quoted model names only; every value is a parameter.
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "  # noqa: S608
        "VALUES "
    )
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, MAX_VARIABLES // len(columns))
    count = 0
    chunk: list[Any] = []
    in_chunk = 0

    def flush() -> None:
        with connection.cursor() as cursor:
            cursor.execute(head + ", ".join([one] * in_chunk), chunk)

    prepare = [_preparer(f) for f in columns]
    for row in rows:
        chunk.extend(p(v) for p, v in zip(prepare, row, strict=True))
        in_chunk += 1
        count += 1
        if in_chunk == per_statement:
            flush()
            chunk, in_chunk = [], 0
    if in_chunk:
        flush()
    return count


# Fields whose Python values are already what the database takes (str, int, bool): the
# ORM's preparation of them is a costly no-op.
_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def _preparer(field: models.Field) -> Any:
    if isinstance(field, _PLAIN):
        return lambda value: value
    return lambda value: field.get_db_prep_save(value, connection)


def delete_by_ids(model: type[models.Model], ids: Sequence[Any], field: str = "pk") -> None:
    """DELETE the rows of `model` whose `field` (default the primary key) is one of `ids`,
    without the ORM's collector: the caller deletes the rows that point to them first."""
    meta = model._meta
    target = concrete_field(model, field)
    quote = connection.ops.quote_name
    for start in range(0, len(ids), MAX_VARIABLES):
        part = [target.get_db_prep_value(v, connection) for v in ids[start : start + MAX_VARIABLES]]
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(meta.db_table)} WHERE {quote(target.column)} IN "  # noqa: S608
                f"({', '.join(['%s'] * len(part))})",
                part,
            )
