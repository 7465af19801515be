"""Part of a number, part of a name: the one definition of SearchCalls' `anynum` and
`anyname` matches, which the staff call list and the calls admin's search use too.

"Part of a number" is `caller_number LIKE '%part%' OR called_number LIKE '%part%'`; on
PostgreSQL GIN trigram indexes answer it (calls/migrations/0005_search_indexes.py), and
"part of a name" the same on UPPER(name), in any letter case. On SQLite the same queries
are correct, not fast.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, F, Func, Q
from django.db.models.lookups import Contains

NUMBER_COLUMNS = ("caller_number", "called_number")
NAME_COLUMNS = ("caller_name", "called_name")

# The end of a number tells numbers apart; its start (country and area codes) is shared by
# millions. See number_contains.
INDEX_TAIL = 6


class AsText(Func):
    """`col || ''`: the column's value as an expression, not the column itself.

    A condition on it is never answered by an index on the plain column, so it is checked
    on the rows found (number_contains). And an index built on exactly this expression
    (0008_search_number_id_indexes) serves only the queries that write it (the searches by
    number order), never GetCallURL's `number = $1`, whose generic plan would otherwise
    take it and read every call of a hot number."""

    template = "(%(expressions)s || '')"
    output_field = CharField()


def number_contains(column: str, part: str) -> Q:
    """`column` holds `part` (case as given), found through the trigram index by the part's
    last INDEX_TAIL characters only, and checked in full on the rows found.

    Every trigram of a LIKE pattern must be looked up in the GIN index, and the trigrams of
    a number's start ("+44", "442", "420", …) are in nearly every row: on 10 M calls the
    index took 1.4 s for "+44201012345" and 14 ms for "012345", which finds the same calls.
    """
    if len(part) <= INDEX_TAIL:
        return Q(**{f"{column}__contains": part})
    tail = part[-INDEX_TAIL:]
    return Q(**{f"{column}__contains": tail}) & Q(Contains(AsText(F(column)), part))


def name_contains(column: str, part: str) -> Q:
    """`column` holds `part` in any letter case (UPPER(column) LIKE UPPER('%part%'))."""
    return Q(**{f"{column}__icontains": part})


def any_number_part(parts: Iterable[str]) -> Q:
    """The caller or the called number holds any of `parts`."""
    return _any(number_contains(column, part) for part in parts for column in NUMBER_COLUMNS)


def any_name_part(parts: Iterable[str]) -> Q:
    """The caller or the called name holds any of `parts`, in any letter case."""
    return _any(name_contains(column, part) for part in parts for column in NAME_COLUMNS)


def _any(conditions: Iterable[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined
