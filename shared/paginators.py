"""An admin paginator that never counts a whole large table.

`COUNT(*)` over millions of rows costs a full scan on PostgreSQL on every page view. This
paginator counts at most `CAP` + 1 rows; beyond that an unfiltered list on PostgreSQL shows
the planner's estimate of the table size, and anything else shows "more than CAP". Pages
stop at the CAP-th row either way.
"""

from functools import cached_property

from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import QuerySet


class AtLeast(int):
    """A count known only to be at least this much; shown as "10000+"."""

    def __str__(self) -> str:
        return f"{int(self)}+"


class About(int):
    """An estimated count; shown as "about 1000000"."""

    def __str__(self) -> str:
        return f"about {int(self)}"


class BoundedCountPaginator(Paginator):
    CAP = 10_000

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if not isinstance(qs, QuerySet):
            return super().count
        bounded = qs.order_by()[: self.CAP + 1].count()
        if bounded <= self.CAP:
            return bounded
        estimate = _table_estimate(qs) if not qs.query.where else None
        if estimate is not None and estimate > self.CAP:
            return About(estimate)
        return AtLeast(self.CAP)

    @cached_property
    def num_pages(self) -> int:
        # Pages stop at the CAP-th row: page 20,000 of a million calls is an OFFSET that
        # reads and throws away a million rows (about a second). Older calls are reached by
        # the date filters, which use the index.
        pages = super().num_pages
        if isinstance(self.count, About | AtLeast):
            return min(pages, max(1, -(-self.CAP // self.per_page)))
        return pages

    def validate_number(self, number: int | float | str) -> int:
        # A page past the end (an old bookmark, a hand-edited URL) shows the last page
        # instead of the admin's "Database error" page.
        try:
            return super().validate_number(number)
        except EmptyPage:
            return self.num_pages if int(number) > 1 else 1


def _table_estimate(qs: QuerySet) -> int | None:
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [qs.model._meta.db_table],
        )
        row = cursor.fetchone()
    # -1 means "never analysed": no estimate to offer.
    return int(row[0]) if row and row[0] and row[0] > 0 else None
