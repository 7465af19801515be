from django.db import migrations


def unlogged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE verba_throttlebucket SET UNLOGGED")


def logged(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE verba_throttlebucket SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("verba", "0002_throttle_bucket")]

    operations = [migrations.RunPython(unlogged, logged)]
