"""Keys limited to directory groups: create_api_key --group, and the admin."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from apikeys.models import ApiKey
from directory.tests.factories import directory_group

pytestmark = pytest.mark.django_db


def test_create_api_key_limits_the_key_to_each_group_given():
    directory_group("Sales")
    directory_group("Support")
    directory_group("Other")
    out = StringIO()

    call_command("create_api_key", "CRM", "--group", "Sales", "--group", "Support", stdout=out)

    key = ApiKey.objects.get(name="CRM")
    assert sorted(g.name for g in key.groups.all()) == ["Sales", "Support"]


def test_an_unknown_group_is_refused_and_no_key_is_made():
    with pytest.raises(CommandError, match="No such group: Nope"):
        call_command("create_api_key", "CRM", "--group", "Nope", stdout=StringIO())

    assert not ApiKey.objects.exists()


def test_an_administrator_limits_a_new_key_to_a_group_in_the_admin(admin_client):
    sales = directory_group("Sales")
    form = {
        "name": "Team dashboard",
        "existing_key": "",
        "can_query": "on",
        "expires_at_0": "",
        "expires_at_1": "",
        "networks": "",
        "groups": [str(sales.pk)],
    }

    answer = admin_client.post(reverse("admin:apikeys_apikey_add"), form)

    assert answer.status_code == 200, answer.content[:500]
    key = ApiKey.objects.get(name="Team dashboard")
    assert list(key.groups.all()) == [sales]
