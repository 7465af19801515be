"""Indexes that give a number's calls in id order (PostgreSQL only), for SearchCalls ordered
by `source_caller_id` or `destination_caller_id`.

Ties are ordered by `ccdr_id` ascending either way (docs/decisions.md): for `desc`, no index
gave "number descending, id ascending", and a hot number's month ordered by caller read its
17,000 calls as caller and sorted them by id (218 ms at 2 M calls). SearchCalls now finds the
page's last number from the `(number, started_at)` indexes, then that number's calls by id
from these (search/search_calls.py, `_by_number`), walked until the page is full; the same
index serves either direction.

The number is indexed as `number || ''`, the expression the search writes, and no other
query: on the plain column these indexes would also answer `number = …`, and GetCallURL's
prepared lookup, planned generically, took them for a hot number's end still to come and
read all of its calls (tests/test_query_plans.py). `started_at` is the last key column so
that the search's period is checked on the index entry, before a row is read. Outside the model's state and built CONCURRENTLY, as 0005 and
0007 (SQLite has no use for them: there SearchCalls is correct, not fast).
"""

from django.db import migrations

INDEXES = {
    "call_caller_id": "((caller_number || ''), id, started_at)",
    "call_called_id": "((called_number || ''), id, started_at)",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON calls_call {columns}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("calls", "0007_search_order_indexes"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
