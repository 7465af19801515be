"""Hand-written SELECTs for the hot paths, turned into model instances as the ORM would.

The Business API answers most requests with two short indexed queries. Built by the ORM,
each costs about as much Python (compiling the queryset into SQL) as the database spends
answering it. The hot lookups therefore keep their SQL text, written once per database
vendor, and only bind new values per request; `ModelColumns` supplies the quoted column
list, the parameter adaptation and the ORM's value converters (UUIDs and datetimes on
SQLite, JSON), so the instances are the ones a queryset would have returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


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
        return self.model._meta.get_field(name).get_db_prep_value(value, connection)

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
    """SQL text built once per database vendor (quoting and casts differ)."""

    def __init__(self, build: Callable[[BaseDatabaseWrapper], str]) -> None:
        self._build = build
        self._text: dict[str, str] = {}

    def __call__(self, connection: BaseDatabaseWrapper) -> str:
        text = self._text.get(connection.vendor)
        if text is None:
            text = self._text[connection.vendor] = self._build(connection)
        return text
