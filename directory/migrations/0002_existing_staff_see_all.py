"""Installs that had staff before the directory: whoever could open the staff pages then (the
calls.view_call permission, directly or through a group, or a superuser) keeps seeing every
call (access `all`), in the server's TIME_ZONE as before, until an administrator or a directory import says otherwise. Users
created later start with the defaults (`own`, UTC)."""

from django.conf import settings
from django.db import migrations
from django.db.models import Q


def existing_viewers_see_all(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Profile = apps.get_model("directory", "Profile")
    viewers = User.objects.filter(
        Q(is_superuser=True)
        | Q(user_permissions__codename="view_call", user_permissions__content_type__app_label="calls")
        | Q(groups__permissions__codename="view_call", groups__permissions__content_type__app_label="calls")
    ).distinct()
    Profile.objects.bulk_create(
        [Profile(user_id=pk, access="all", time_zone=settings.TIME_ZONE) for pk in viewers.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("calls", "0001_initial"),
    ]

    operations = [migrations.RunPython(existing_viewers_see_all, migrations.RunPython.noop)]
