"""PostgreSQL: a commit that writes messages wakes every server's deliverer (NOTIFY), not
only the writer's own, so messages written elsewhere (another server, `import_calls`, a
retention run) are sent at once instead of at the next poll. Collected on PostgreSQL only
(webhooks/tests/conftest.py)."""

import pytest

from calls import deletion
from calls.tests.factories import CallFactory
from webhooks.delivery import deliverer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_deliverer(settings, monkeypatch):
    # A minute between polls, and no wake-up from this process's own commits: only the
    # notification can wake the deliverer in time.
    settings.WEBHOOK_POLL_SECONDS = 60
    monkeypatch.setattr(deliverer, "wake", lambda: None)
    deliverer.start()
    assert deliverer.listening.wait(10)
    yield deliverer
    assert deliverer.stop()


def test_a_commit_elsewhere_wakes_the_deliverer_through_notify(
    endpoint, receiver, running_deliverer
):
    call = CallFactory()

    deletion.set_keep(call.pk, True)

    got = receiver.next(timeout=10)
    assert got.json["data"]["id"] == str(call.pk)
