"""The deletion sweep's partial index, built without blocking writes on PostgreSQL.

A plain CREATE INDEX locks the calls table against writes while it reads every row (seconds
on millions of calls, while recorders keep writing); CONCURRENTLY does not, but cannot run
inside a transaction, hence a migration of its own.
"""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("calls", "0003_metadata_markers"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="call",
            index=models.Index(
                condition=models.Q(("delete_when_ended", True)),
                fields=["ended_at"],
                name="call_delete_when_ended",
            ),
        ),
    ]
