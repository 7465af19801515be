"""On PostgreSQL, the database itself refuses two users owning one number at one instant
(access.md §1): an exclusion constraint over the number, the owner and the period, so that
two administrators or imports saving at once cannot both pass the check the forms and the
import make before writing. Needs btree_gist (a trusted extension: the database's owner may
create it). Elsewhere (SQLite, one writer at a time) the forms' and the import's check is the
rule, and this migration does nothing.

Not a model constraint: Django would then ask every database for it."""

from django.db import migrations

CONSTRAINT = "extension_no_overlap"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    # [from, until): a period ending when the next begins does not overlap it; NULL is open.
    # The number as an expression (the same equality), so that the planner does not take
    # this gist index for the scope's lookups by number: they read the btree index
    # extension_number_user (callportal/tests/test_scope_plans.py).
    schema_editor.execute(
        f"ALTER TABLE directory_extension ADD CONSTRAINT {CONSTRAINT} EXCLUDE USING gist "
        "((number || '') WITH =, user_id WITH <>, "
        "tstzrange(valid_from, valid_until, '[)') WITH &&)"
    )


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE directory_extension DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_extension_number_rule"),
    ]

    operations = [
        migrations.RunPython(add_constraint, drop_constraint, elidable=False),
    ]
