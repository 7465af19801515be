"""Hand-written SELECTs for the hot paths, turned into model instances as the ORM would.

The Business API answers most requests with two short indexed queries. Built by the ORM,
each costs about as much Python (compiling the queryset into SQL) as the database spends
answering it. The hot lookups therefore keep their SQL text, written once per database
vendor, and only bind new values per request; `ModelColumns` supplies the quoted column
list, the parameter adaptation and the ORM's value converters (UUIDs and datetimes on
SQLite, JSON), so the instances are the ones a queryset would have returned.

On PostgreSQL `fetch` also PREPAREs the hot queries once per connection and EXECUTEs them
after (DB_PREPARED_STATEMENTS): the token and number lookups took several times longer to
plan than to run. The first use on a connection sends PREPARE and EXECUTE in one round
trip, so a request never needs an extra one. A prepared statement runs on one generic plan
(the connections set plan_cache_mode so, callportal/settings.py), which cannot see the values:
only queries whose best plan does not depend on them are prepared, and
tests/test_query_plans.py checks the generic plans.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from django.conf import settings
from django.db import DatabaseError, models
from django.db.backends.base.base import BaseDatabaseWrapper

from shared.model_fields import concrete_field

M = TypeVar("M", bound=models.Model)
A = TypeVar("A")
T = TypeVar("T")
U = TypeVar("U")


class ModelColumns(Generic[M]):
    """Some concrete fields of a model: how to select them and how to read them back."""

    def __init__(self, model: type[M], names: Sequence[str] | None = None) -> None:
        self.model = model
        wanted = set(names) if names else None
        # In the model's field order: Model.from_db() matches partial rows to fields so.
        self.fields = [
            f
            for f in model._meta.concrete_fields
            if wanted is None or f.attname in wanted or f.name in wanted
        ]
        self.attnames = [f.attname for f in self.fields]
        self.table = model._meta.db_table
        self._converters: dict[str, list[tuple[int, list[Callable], Any]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def select_list(self, connection: BaseDatabaseWrapper, alias: str | None = None) -> str:
        """`"alias"."column", …` in field order."""
        qn = connection.ops.quote_name
        prefix = qn(alias or self.table)
        return ", ".join(f"{prefix}.{qn(f.column)}" for f in self.fields)

    def value(self, name: str, value: Any, connection: BaseDatabaseWrapper) -> Any:
        """`value` adapted for a query parameter compared with field `name`."""
        return concrete_field(self.model, name).get_db_prep_value(value, connection)

    def instances(
        self, rows: Iterable[Sequence[Any]], connection: BaseDatabaseWrapper, start: int = 0
    ) -> list[M]:
        """Model instances from rows whose columns `start` … hold this list's fields."""
        converters = self._converters_for(connection)
        end = start + len(self.fields)
        found = []
        for row in rows:
            values = list(row[start:end])
            for index, functions, expression in converters:
                value = values[index]
                for function in functions:
                    value = function(value, expression, connection)
                values[index] = value
            found.append(self.model.from_db(connection.alias, self.attnames, values))
        return found

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list[tuple[int, list, Any]]:
        cached = self._converters.get(connection.alias)
        if cached is None:
            compiler = self.model._default_manager.none().query.get_compiler(connection=connection)
            columns = [field.get_col(self.table) for field in self.fields]
            cached = [
                (index, functions, expression)
                for index, (functions, expression) in compiler.get_converters(columns).items()
            ]
            self._converters[connection.alias] = cached
        return cached


class VendorSql:
    """SQL text built once per database vendor (quoting and casts differ).

    Its values are `%s` parameters; the text holds no other `%`.
    """

    def __init__(
        self, build: Callable[[BaseDatabaseWrapper], str], name: str, *, prepare: bool
    ) -> None:
        # Names the prepared statement (seen in pg_stat_activity and the query log): the
        # table it reads first, then what it finds.
        self.name = name
        # Only where the best plan does not depend on the values: a prepared statement
        # runs on one generic plan for all values.
        self.prepare = prepare
        self._build = build
        self._text: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def __call__(self, connection: BaseDatabaseWrapper) -> str:
        text = self._text.get(connection.vendor)
        if text is None:
            text = self._text[connection.vendor] = self._build(connection)
        return text

    def statement_name(self, connection: BaseDatabaseWrapper) -> str:
        """The prepared statement's name: readable, unique by the text, at most 63 bytes
        (PostgreSQL cuts longer names, and two cut names could meet)."""
        name = self._names.get(connection.vendor)
        if name is None:
            digest = hashlib.blake2b(self(connection).encode(), digest_size=6).hexdigest()
            name = self._names[connection.vendor] = f"{self.name[:50].rstrip('_')}_{digest}"
        return name


# The statements each PostgreSQL connection has prepared. Keyed by the driver's connection
# (the pool hands the same ones out again); an entry goes with its connection.
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_PARAMETER = re.compile(r"%s")
# SQLSTATEs of a connection whose prepared statements are not what `_prepared` says: a
# first use whose EXECUTE failed after its PREPARE succeeded, or a DISCARD ALL.
_ALREADY_PREPARED, _NOT_PREPARED = "42P05", "26000"


def fetch(
    connection: BaseDatabaseWrapper, sql: VendorSql, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The rows of `sql` with `params`, through a prepared statement where that helps."""
    return _fetch(connection, sql, params)[1]


def _fetch(
    connection: BaseDatabaseWrapper, sql: VendorSql, params: Sequence[Any]
) -> tuple[Any, list[tuple[Any, ...]]]:
    """The cursor's description and the rows."""
    text = sql(connection)
    with connection.cursor() as cursor:
        if not (
            sql.prepare and connection.vendor == "postgresql" and settings.DB_PREPARED_STATEMENTS
        ):
            cursor.execute(text, params)
            return cursor.description, cursor.fetchall()
        name = sql.statement_name(connection)
        done = _prepared.setdefault(cursor.cursor.connection, set())
        prepare = name not in done
        try:
            cursor.execute(_execute(name, text, len(params), prepare=prepare), params)
        except DatabaseError as error:
            state = getattr(error.__cause__, "pgcode", None)
            if state == _NOT_PREPARED:
                done.discard(name)
            elif prepare:
                # PREPARE runs first and outlives a failed EXECUTE (or had run already).
                done.add(name)
            # Inside a transaction the failure has aborted it: no second try here, but the
            # next use of the connection finds `done` right.
            if connection.in_atomic_block or state not in (_ALREADY_PREPARED, _NOT_PREPARED):
                raise
            cursor.execute(_execute(name, text, len(params), prepare=name not in done), params)
        done.add(name)
        return cursor.description, cursor.fetchall()


@dataclass(frozen=True)
class Read(Generic[T]):
    """A query and what its rows mean: built by a selector, run by `run` or, sharing one
    round trip with another, by `run_together`."""

    sql: VendorSql
    params: tuple[Any, ...]
    # Rows → the selector's answer; not part of what makes two reads the same.
    decode: Callable[[list[tuple[Any, ...]]], T] = field(compare=False)


class Reader(Protocol):
    """Whatever runs a read for a selector: `run` on the default connection, or something
    that already holds the answer (a read made together with another)."""

    def __call__(self, read: Read[T]) -> T: ...


def run(connection: BaseDatabaseWrapper, read: Read[T]) -> T:
    return read.decode(fetch(connection, read.sql, read.params))


@dataclass(frozen=True)
class Ran(Generic[T]):
    """The answer of a read that ran (which may itself be None: nothing found)."""

    answer: T


_TOGETHER: dict[tuple[str, str], VendorSql] = {}


def run_together(
    connection: BaseDatabaseWrapper, first: Read[T], then: Read[U]
) -> tuple[T, Ran[U] | None]:
    """`first` and, when it finds a row, `then`, in one round trip on PostgreSQL (two
    elsewhere): `first`'s answer, and `then`'s in a `Ran`, or None when it did not run.

    `first` must find at most one row (a lookup by a unique column): its row is repeated
    beside each row of `then`.
    """
    if connection.vendor != "postgresql":
        found = fetch(connection, first.sql, first.params)
        return first.decode(found), (Ran(run(connection, then)) if found else None)
    key = (first.sql.name, then.sql.name)
    sql = _TOGETHER.get(key)
    if sql is None:
        sql = _TOGETHER[key] = VendorSql(
            partial(_together_sql, first.sql, then.sql),
            f"{first.sql.name}__{then.sql.name}",
            prepare=first.sql.prepare and then.sql.prepare,
        )
    description, rows = _fetch(connection, sql, (*first.params, *then.params))
    if not rows:
        return first.decode([]), None
    # Each row: a marker, first's columns, a marker that `then` found a row, then's columns.
    marker = next(i for i, column in enumerate(description) if column[0] == "then_found")
    found = [row[marker + 1 :] for row in rows if row[marker] is not None]
    return first.decode([rows[0][1:marker]]), Ran(then.decode(found))


_ANCHORED: dict[tuple[str, ...], VendorSql] = {}


def run_anchored(
    connection: BaseDatabaseWrapper,
    anchor: Read[A],
    first: Read[T] | None,
    then: Read[U] | None = None,
) -> tuple[A, T | None, Ran[U] | None]:
    """`anchor`, and `first` and `then` as `run_together` runs them, in one round trip on
    PostgreSQL (a statement each elsewhere): `anchor`'s answer, `first`'s (None when there
    is no `first`) and `then`'s in a `Ran`, or None when it did not run.

    `anchor` gives exactly one row whatever the others find, and may write: it is an
    `INSERT … RETURNING` (the throttle's spend) as much as a SELECT, so it travels as the
    statement's WITH, which PostgreSQL runs once, to completion, whether or not the rest
    finds anything.
    """
    if first is None:
        return run(connection, anchor), None, None
    if connection.vendor != "postgresql":
        answer = run(connection, anchor)
        if then is None:
            return answer, run(connection, first), None
        found, ran = run_together(connection, first, then)
        return answer, found, ran
    # Named by the lookups, the anchor last: a name is cut at 50 characters (statement_name).
    parts = (first.sql, *((then.sql,) if then else ()), anchor.sql)
    key = tuple(part.name for part in parts)
    sql = _ANCHORED.get(key)
    if sql is None:
        sql = _ANCHORED[key] = VendorSql(
            partial(
                _anchored_sql, anchor=anchor.sql, first=first.sql, then=then.sql if then else None
            ),
            "__".join(key),
            prepare=all(part.prepare for part in parts),
        )
    params = (*anchor.params, *first.params, *(then.params if then else ()))
    description, rows = _fetch(connection, sql, params)
    # Each row: anchor's columns, a marker that `first` found its row, first's columns, and
    # with `then` a marker that it found a row and its columns.
    names = [column[0] for column in description]
    first_at = names.index("first_found")
    head = rows[0]
    answer = anchor.decode([head[:first_at]])
    if head[first_at] is None:
        return answer, first.decode([]), None
    if then is None:
        return answer, first.decode([head[first_at + 1 :]]), None
    then_at = names.index("then_found")
    then_rows = [row[then_at + 1 :] for row in rows if row[then_at] is not None]
    return answer, first.decode([head[first_at + 1 : then_at]]), Ran(then.decode(then_rows))


def _anchored_sql(
    connection: BaseDatabaseWrapper, *, anchor: VendorSql, first: VendorSql, then: VendorSql | None
) -> str:
    # The anchor's one row drives the rest: `first` once beside it, `then` (which refers
    # to `a`) once for the row `first` found, and not at all when it found none.
    # Statements of this module's kind joined: every value is still a parameter.
    anchored = f"WITH w AS ({anchor(connection)})"
    beside = f"(SELECT 1 AS first_found, f.* FROM ({first(connection)}) f)"  # noqa: S608
    if then is None:
        return f"{anchored} SELECT w.*, a.* FROM w LEFT JOIN {beside} a ON TRUE"  # noqa: S608
    after = f"(SELECT 1 AS then_found, t.* FROM ({then(connection)}) t WHERE a.first_found = 1)"  # noqa: S608
    return (
        f"{anchored} SELECT w.*, a.*, b.* FROM w LEFT JOIN {beside} a ON TRUE"  # noqa: S608
        f" LEFT JOIN LATERAL {after} b ON TRUE"
    )


def _together_sql(first: VendorSql, then: VendorSql, connection: BaseDatabaseWrapper) -> str:
    # `then` refers to `a`, so it is the inner side of a nested loop: it runs once for the
    # row `first` found, and not at all when `first` found none.
    # Two statements of this module's kind joined: every value is still a parameter.
    return (
        f"SELECT a.*, b.* FROM (SELECT 1 AS first_found, f.* FROM ({first(connection)}) f) a "  # noqa: S608
        f"LEFT JOIN LATERAL (SELECT 1 AS then_found, t.* FROM ({then(connection)}) t "
        "WHERE a.first_found = 1) b ON TRUE"
    )


def _execute(name: str, text: str, count: int, *, prepare: bool) -> str:
    execute = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
    if not prepare:
        return execute
    numbers = iter(range(1, count + 1))
    statement = _PARAMETER.sub(lambda _: f"${next(numbers)}", text)
    # One round trip: psycopg2 sends both statements, the rows are the EXECUTE's.
    return f"PREPARE {name} AS {statement}; {execute}"


def explainable(logged: str) -> str | None:
    """The part of a logged query that EXPLAIN takes: a SELECT (or WITH … SELECT), or the
    EXECUTE of a prepared one (a first use logs `PREPARE …; EXECUTE …`); None for anything
    else."""
    statement = logged.rsplit("; EXECUTE ", 1)
    text = f"EXECUTE {statement[1]}" if len(statement) == 2 else logged.lstrip()
    return text if text.upper().startswith(("SELECT", "EXECUTE", "WITH")) else None
