"""Trigram indexes for SearchCalls' "part of a number" and "part of a name" (PostgreSQL only).

`anynum` is `caller_number LIKE '%part%' OR called_number LIKE '%part%'` and `anyname` the
same on UPPER(name) (Django's `contains` / `icontains`): no B-tree can answer a match
inside a value, a GIN index of trigrams can. The indexes exist on PostgreSQL only, outside
the model's state (SQLite has no GIN; there SearchCalls is correct, not fast), and are built
CONCURRENTLY so a big table keeps taking writes meanwhile: hence a non-atomic migration.
The expressions are exactly what Django's lookups write, so the planner can use them.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "call_caller_number_trgm": "caller_number gin_trgm_ops",
    "call_called_number_trgm": "called_number gin_trgm_ops",
    "call_caller_name_trgm": "UPPER(caller_name::text) gin_trgm_ops",
    "call_called_name_trgm": "UPPER(called_name::text) gin_trgm_ops",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON calls_call USING gin ({expression})"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("calls", "0004_delete_when_ended_index"),
    ]

    operations = [
        # A no-op on other databases. pg_trgm is a trusted extension (PostgreSQL 13+): the
        # database's owner may create it without being a superuser.
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
