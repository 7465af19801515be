from django.db import migrations, models


class Migration(migrations.Migration):
    """A spend may be granted several requests at once (a lease): the bucket's `allowed`
    becomes how many were granted. Buckets are transient (an UNLOGGED table on PostgreSQL):
    the old rows are simply dropped, and each client starts with a full bucket once."""

    dependencies = [("verba", "0003_unlogged_throttle_bucket")]

    operations = [
        migrations.RunSQL("DELETE FROM verba_throttlebucket", migrations.RunSQL.noop),
        migrations.RemoveField(model_name="throttlebucket", name="allowed"),
        migrations.AddField(
            model_name="throttlebucket", name="granted", field=models.IntegerField(default=1)
        ),
    ]
