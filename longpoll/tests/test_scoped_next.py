"""A `status=next` wait is released only by a call in the waiting request's scope
(access.md §2): a call outside it does not exist for that request, even while it waits."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from calls.tests.factories import CallFactory
from directory.scopes import user_scope
from directory.tests.factories import directory_user
from longpoll import watcher as longpoll

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "8856"


@pytest.fixture(autouse=True)
def short_window(settings):
    settings.NEXT_WINDOW_SECONDS = 2.0
    settings.NEXT_GRACE_SECONDS = 1.0
    settings.NEXT_POLL_SECONDS = 0.1
    yield
    assert longpoll.wait_until_idle(timeout=5), "the watcher thread kept running"


def wait_in_thread(scope):
    admits = scope.loaded().admits
    arrived_at = timezone.now()
    outcome: dict = {}

    def run():
        try:
            outcome["calls"] = longpoll.wait_for_next(NUMBER, arrived_at, admits=admits)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while longpoll.waiting_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    return thread, outcome


def test_the_new_owner_s_call_releases_his_wait_but_not_the_former_owner_s():
    moved = timezone.now() - timedelta(days=1)
    alice = directory_user("alice", extensions=[(NUMBER, None, moved)])
    bob = directory_user("bob", extensions=[(NUMBER, moved, None)])
    alice_waits, alice_got = wait_in_thread(user_scope(alice))
    bob_waits, bob_got = wait_in_thread(user_scope(bob))

    call = CallFactory(called_number=NUMBER, started_at=timezone.now(), ended_at=None)
    longpoll.announce(call)

    bob_waits.join(10)
    alice_waits.join(10)
    assert bob_got["calls"] == [call]
    assert alice_got["calls"] == []


def test_through_the_api_a_token_s_next_is_released_only_by_a_call_in_its_scope(client, settings):
    from django.contrib.auth.models import Permission

    from apikeys.services import create_api_key, request_token

    settings.API_THROTTLE = "off"
    moved = timezone.now() - timedelta(days=1)
    alice = directory_user("alice", extensions=[(NUMBER, None, moved)])
    bob = directory_user("bob", extensions=[(NUMBER, moved, None)])
    view = Permission.objects.get(codename="view_call", content_type__app_label="calls")
    key, plaintext = create_api_key("Next")
    answers = {}
    for user in (alice, bob):
        user.user_permissions.add(view)
        token = request_token(key, user)[1]

        def write_a_call_once_waiting() -> None:
            deadline = time.monotonic() + 5
            while longpoll.waiting_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
            CallFactory(called_number=NUMBER, started_at=timezone.now(), ended_at=None)
            connection.close()

        writer = threading.Thread(target=write_a_call_once_waiting, daemon=True)
        writer.start()
        answer = client.get(
            "/verba/api",
            {"action": "GetCallID", "apiKey": plaintext, "token": token,
             "extension": NUMBER, "status": "next", "responseType": "TEXT"},
        )  # fmt: skip
        writer.join(10)
        answers[user.username] = answer.content.decode()

    assert answers["alice"].startswith("ERROR 2:")
    assert len(answers["bob"].strip()) == 36
