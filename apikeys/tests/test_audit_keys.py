"""Keys for audit readers (`create_api_key NAME --audit`): they read the audit feeds and
nothing else, so that a SIEM's key never opens a call's content."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from apikeys import secrets
from apikeys.models import AUDIT_ONLY_MESSAGE, ApiKey
from apikeys.services import create_api_key

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:apikeys_apikey_changelist")


def test_create_api_key_audit_grants_the_audit_feeds_and_nothing_else():
    out = StringIO()

    call_command("create_api_key", "SIEM", "--audit", stdout=out)

    key = ApiKey.objects.get()
    assert key.key_digest == secrets.digest(out.getvalue().strip())
    assert key.audit
    assert not (key.can_query or key.can_change or key.can_ingest or key.requires_auth)


def test_keys_made_without_audit_cannot_read_the_feeds():
    call_command("create_api_key", "CRM", "--change", "--ingest", stdout=StringIO())

    assert not ApiKey.objects.get().audit


@pytest.mark.parametrize("other", ["--change", "--ingest", "--requires-auth"])
def test_audit_with_another_permission_is_refused_and_no_key_is_made(other):
    with pytest.raises(CommandError, match=f"cannot go with {other}"):
        call_command("create_api_key", "SIEM", "--audit", other, stdout=StringIO())

    assert not ApiKey.objects.exists()


def test_the_database_refuses_an_audit_key_that_may_also_query():
    with pytest.raises(ValidationError) as refused:
        create_api_key("SIEM", audit=True)  # can_query defaults to true

    assert AUDIT_ONLY_MESSAGE in refused.value.messages
    assert not ApiKey.objects.exists()


def test_the_business_api_refuses_an_audit_key(client: Client):
    _, key = create_api_key("SIEM", audit=True, can_query=False)

    for action in ("GetCallURL", "RequestToken", "SearchCalls", "KeepCall", "PutMedia"):
        send = client.post if action == "PutMedia" else client.get
        answer = send("/verba/api", {"action": action, "apiKey": key, "responseType": "JSON"})
        assert answer.json()["code"] == 6, action


def test_the_ingestion_api_refuses_an_audit_key(client: Client):
    _, key = create_api_key("SIEM", audit=True, can_query=False)

    answer = client.get("/api/v1/calls", headers={"X-Api-Key": key})

    assert answer.status_code == 403
    assert answer.json() == {"detail": "This API key may not ingest calls."}


def test_the_admin_lists_and_filters_audit_keys(admin_client):
    create_api_key("SIEM feed", audit=True, can_query=False)
    create_api_key("CRM")

    html = admin_client.get(LIST_URL).content.decode()
    filtered = admin_client.get(f"{LIST_URL}?permission=audit").content.decode()

    assert "audit feeds" in html
    assert "SIEM feed" in filtered and "CRM" not in filtered


def test_an_administrator_makes_an_audit_key_in_the_admin(admin_client):
    form = {
        "name": "SIEM feed",
        "existing_key": "",
        "audit": "on",
        "expires_at_0": "",
        "expires_at_1": "",
        "networks": "",
    }

    answer = admin_client.post(reverse("admin:apikeys_apikey_add"), form)

    assert answer.status_code == 200, answer.content[:500]
    key = ApiKey.objects.get(name="SIEM feed")
    assert key.audit and not key.can_query


def test_the_admin_refuses_an_audit_key_that_may_also_query(admin_client):
    form = {
        "name": "SIEM feed",
        "existing_key": "",
        "audit": "on",
        "can_query": "on",
        "expires_at_0": "",
        "expires_at_1": "",
        "networks": "",
    }

    answer = admin_client.post(reverse("admin:apikeys_apikey_add"), form)

    assert answer.status_code == 200
    assert AUDIT_ONLY_MESSAGE in answer.content.decode()
    assert not ApiKey.objects.exists()
