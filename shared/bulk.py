"""Many rows in one statement, without model instances: for batch writes on hot paths.

`bulk_create` builds a model instance per row and prepares every value through the ORM's
generic machinery; a retention batch writes thousands of rows into three tables, and that
Python work cost more than the database's (bench/retention.py). Rows made from other rows
(a deleted call's ledger entry) go by `insert_from`, INSERT ... SELECT, so that the database
copies them without a value passing through Python; rows go by DELETE ... IN lists sized
below SQLite's variable limit (`delete_by_ids`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import QuerySet
from django.db.models.expressions import Combinable, RawSQL

from shared.model_fields import concrete_field

# SQLite's default limit of variables per statement (32,766 since 3.32), with room to spare.
MAX_VARIABLES = 30_000


def uuid_set(ids: Iterable[uuid.UUID]) -> Any:
    """`ids` as the right side of an `__in` lookup (`filter(pk__in=uuid_set(ids))`), cheap
    to send again and again: on PostgreSQL one array parameter, written as text at once;
    elsewhere the list. The ORM prepares a list's values one by one through several layers:
    a retention batch sends its 500 ids in nine statements, and that alone was a fifth of
    the purge's CPU, taken from the requests served on the same machine."""
    if connection.vendor != "postgresql":
        return list(ids)
    return RawSQL("SELECT unnest(%s::uuid[])", [_array(ids)])


def _array(ids: Iterable[uuid.UUID]) -> str:
    return "{" + ",".join(map(str, ids)) + "}"


def delete_by_ids(model: type[models.Model], ids: Sequence[Any], field: str = "pk") -> None:
    """DELETE the rows of `model` whose `field` (default the primary key) is one of `ids`,
    without the ORM's collector: the caller deletes the rows that point to them first."""
    meta = model._meta
    target = concrete_field(model, field)
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql" and target.db_type(connection) == "uuid":
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(meta.db_table)} WHERE {quote(target.column)} "  # noqa: S608
                "= ANY(%s::uuid[])",
                [_array(ids)],
            )
        return
    for start in range(0, len(ids), MAX_VARIABLES):
        part = [target.get_db_prep_value(v, connection) for v in ids[start : start + MAX_VARIABLES]]
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(meta.db_table)} WHERE {quote(target.column)} IN "  # noqa: S608
                f"({', '.join(['%s'] * len(part))})",
                part,
            )


def insert_from(
    model: type[models.Model], columns: dict[str, Combinable], source: QuerySet[Any]
) -> int:
    """INSERT into `model`'s table one row per row of `source`: each field named in
    `columns` gets its expression (on `source`'s model: F(...), Value(...), functions),
    computed by the database in one INSERT ... SELECT. Returns how many rows went in."""
    meta = model._meta
    targets = [concrete_field(model, name) for name in columns]
    aliases = {f"bulk_{n}": expression for n, expression in enumerate(columns.values())}
    select = source.order_by().annotate(**aliases).values(*aliases)
    compiler = select.query.get_compiler(using=select.db)
    sql, params = compiler.as_sql()
    # The SELECT must list the expressions in the order of the columns: the ORM places
    # annotations in the order they were added; check rather than trust it.
    if [alias for _, _, alias in compiler.select] != list(aliases):
        raise RuntimeError(f"insert_from: unexpected SELECT list {compiler.select!r}")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            # Quoted model names and the ORM's own SQL; every value is a parameter.
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in targets)}) "
            f"{sql}",
            params,
        )
        return max(cursor.rowcount, 0)
