"""Indexes that give SearchCalls' other orders as is (PostgreSQL only), as `call_started`
gives start_time: a hot number's month ordered by duration read and sorted every one of
its 34,000 calls (403 ms at 10 M calls), where walking an index in that order stops at the
page's last call (search/search_calls.py).

- `call_duration`: a finished call's duration, `ended_at - started_at`, exactly the
  expression SearchCalls orders finished calls by;
- `call_ended`: the end, for `orderby=end_time`.

Each has `started_at` second: the search's period is then checked on the index entry, and
only calls of the period are read from the table. Outside the model's state (as the
trigram indexes of 0005: SQLite has them not, and Django would write the expression with
SQLite's own function there), built CONCURRENTLY so that a big table keeps taking writes:
hence a non-atomic migration.
"""

from django.db import migrations

INDEXES = {
    "call_duration": "((ended_at - started_at), started_at)",
    "call_ended": "(ended_at, started_at)",
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
        ("calls", "0006_recording_sha256_delete_requested_by"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
