"""Audit rows written before unknown actions were replaced by a marker held the `action`
parameter as given, which can be a key, a token or a password: replace those too."""

from django.db import migrations

# audit.models.UNKNOWN_ACTION, frozen as this migration writes it.
UNKNOWN_ACTION = "(unknown)"


def forget_unknown_actions(apps, schema_editor):
    # The live registry: every action callportal has ever known is still in it.
    from verba.actions import REGISTRY

    ApiRequest = apps.get_model("audit", "ApiRequest")
    ApiRequest.objects.exclude(action="").exclude(action__in=list(REGISTRY)).update(
        action=UNKNOWN_ACTION
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forget_unknown_actions, migrations.RunPython.noop)]
