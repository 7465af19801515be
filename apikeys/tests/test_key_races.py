"""Two administrators at once: importing one key, rotating one key.

Real threads against the real database (transactional), each with its own connection and
its own logged-in admin, as two browsers on two app-server threads would be. Both requests
are held at the moment that matters until both have reached it. (The admin's add page runs
in one transaction, which SQLite begins IMMEDIATE: there the second import waits for the
first to commit, so holding it inside would wait forever; SQLite runs it unheld.)
"""

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from apikeys import secrets
from apikeys.forms import ApiKeyAddForm
from apikeys.models import ApiKey
from apikeys.services import create_api_key

pytestmark = pytest.mark.django_db(transaction=True)

ADD_URL = reverse("admin:apikeys_apikey_add")
LIST_URL = reverse("admin:apikeys_apikey_changelist")
GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
SHOWN = re.compile(r"data-api-key>([^<]+)<")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admins(django_user_model):
    """Two logged-in administrators, each with a client of their own."""
    clients = []
    for name in ("ada", "grace"):
        user = django_user_model.objects.create_superuser(name, f"{name}@example.com", "pw-1")
        client = Client()
        client.force_login(user)
        clients.append(client)
    return clients


def at_once(admins, request):
    """Run request(client) for each admin in its own thread, started together."""
    barrier = threading.Barrier(len(admins))
    responses = [None] * len(admins)
    errors = []

    def work(index):
        try:
            barrier.wait(10)
            responses[index] = request(admins[index])
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(admins))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return responses


def hold_both_at(monkeypatch, owner, name):
    """Make owner.name wait until both requests have called it."""
    original = getattr(owner, name)
    meeting = threading.Barrier(2)

    def held(*args, **kwargs):
        result = original(*args, **kwargs)
        meeting.wait(10)
        return result

    monkeypatch.setattr(owner, name, held)


def test_two_imports_of_one_key_at_once_make_one_key_and_a_clear_refusal(admins, monkeypatch):
    if connection.vendor == "postgresql":
        # Both forms find the key new before either is saved.
        hold_both_at(monkeypatch, ApiKeyAddForm, "clean_existing_key")
    form = {
        "name": "CRM integration",
        "existing_key": GUID,
        "can_query": "on",
        "expires_at_0": "",
        "expires_at_1": "",
        "networks": "",
    }

    responses = at_once(admins, lambda client: client.post(ADD_URL, form, follow=True))

    assert [r.status_code for r in responses] == [200, 200]
    shown = [SHOWN.search(r.content.decode()) for r in responses]
    assert sum(1 for match in shown if match) == 1
    winner = next(match.group(1) for match in shown if match)
    assert winner == GUID
    loser = next(r.content.decode() for r, match in zip(responses, shown, strict=True) if not match)
    assert "This API key already exists" in loser
    assert GUID not in loser
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().key_digest == secrets.digest(GUID)


def test_two_administrators_rotating_one_key_at_once_see_one_secret_that_works(admins, monkeypatch):
    key, old = create_api_key("To rotate")
    # Both have made a new secret before either stores it.
    hold_both_at(monkeypatch, secrets, "new_key")
    form = {"action": "rotate_keys", "_selected_action": [key.pk], "post": "yes"}

    responses = at_once(admins, lambda client: client.post(LIST_URL, form, follow=True))

    assert [r.status_code for r in responses] == [200, 200]
    shown = [m.group(1) for r in responses if (m := SHOWN.search(r.content.decode()))]
    # Both read the same secret: only one of them may replace it, and that one is shown.
    assert len(shown) == 1
    stored = ApiKey.objects.get(pk=key.pk).key_digest
    assert secrets.digest(shown[0]) == stored != secrets.digest(old)
    loser = next(r.content.decode() for r in responses if not SHOWN.search(r.content.decode()))
    assert "was rotated or revoked by someone else at the same moment" in loser
