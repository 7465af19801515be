"""Delivery to a real receiver on loopback: signatures, retries, order, leases, the log.

Retry timing runs on an injected clock (webhooks.delivery takes it as a parameter): the
tests move the clock, never sleep. Signatures are checked with the `standardwebhooks`
package from PyPI, the Standard Webhooks reference library, and by the formula itself.
"""

import base64
import hashlib
import hmac
import json
import logging
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from calls import deletion
from calls.services import upsert_call
from calls.tests.factories import CallFactory
from webhooks import transport
from webhooks.delivery import RETRY_DELAYS, deliver_due, lease
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint, Message
from webhooks.services import create_endpoint, resend, resend_failed, rotate_secret
from webhooks.tests.conftest import Clock

pytestmark = pytest.mark.django_db


def keep(call=None):
    """One call.updated event (a KeepCall); returns the call."""
    call = call or CallFactory()
    deletion.set_keep(call.pk, not call.keep)
    call.keep = not call.keep
    return call


def test_a_delivered_message_verifies_with_the_standardwebhooks_library(endpoint, receiver):
    call = keep()

    assert deliver_due() == 1

    got = receiver.next()
    payload = Webhook(endpoint.plain_secret).verify(got.body, got.headers)
    message = Message.objects.get()
    assert payload == json.loads(message.body)
    assert payload["type"] == "call.updated"
    assert payload["data"]["id"] == str(call.pk)
    assert got.headers["webhook-id"] == message.msg_id
    assert got.headers["content-type"] == "application/json"
    assert got.path == "/hooks/callportal"
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_the_signature_is_the_hmac_of_id_timestamp_and_body_as_the_specification_writes_it(
    endpoint, receiver
):
    keep()
    deliver_due()

    got = receiver.next()
    key = base64.b64decode(endpoint.plain_secret.removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == f"v1,{expected}"
    assert len(key) >= 24


def test_a_wrong_secret_or_a_changed_body_does_not_verify(endpoint, receiver):
    keep()
    deliver_due()
    got = receiver.next()

    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.plain_secret).verify(got.body + b" ", got.headers)


def test_after_a_rotation_old_and_new_secrets_both_sign_for_24_hours_then_only_the_new(
    endpoint, receiver
):
    old = endpoint.plain_secret
    new = rotate_secret(endpoint)
    assert new != old and new.startswith("whsec_")

    keep()
    clock = Clock()
    deliver_due(clock=clock)
    during = receiver.next()
    clock.advance(hours=24, seconds=1)
    keep()
    deliver_due(clock=clock)
    after = receiver.next()

    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_a_failing_receiver_is_retried_on_the_standard_webhooks_schedule_then_failed(
    endpoint, receiver
):
    receiver.status = 500
    receiver.answer = b"down for maintenance"
    keep()
    clock = Clock()

    deliver_due(clock=clock)
    first = receiver.next()
    for delay in RETRY_DELAYS:
        # Not a moment early…
        clock.advance(seconds=delay.total_seconds() - 1)
        assert deliver_due(clock=clock) == 0
        # …and on time.
        clock.advance(seconds=1)
        assert deliver_due(clock=clock) == 1
        retry = receiver.next()
        assert retry.headers["webhook-id"] == first.headers["webhook-id"]
        assert retry.body == first.body

    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts.count() == 1 + len(RETRY_DELAYS) == 8
    clock.advance(days=1)
    assert deliver_due(clock=clock) == 0
    assert receiver.nothing_more()
    attempt = delivery.attempts.last()
    assert (attempt.status, attempt.response) == (500, "down for maintenance")
    assert [d.total_seconds() for d in RETRY_DELAYS] == [
        5, 300, 1800, 7200, 18000, 36000, 36000,
    ]  # fmt: skip


def test_a_receiver_that_recovers_gets_the_message_on_the_retry(endpoint, receiver):
    receiver.script = [503]
    keep()
    clock = Clock()

    deliver_due(clock=clock)
    clock.advance(seconds=5)
    deliver_due(clock=clock)

    first, second = receiver.next(), receiver.next()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED
    assert [a.status for a in delivery.attempts.all()] == [503, 200]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_an_endpoint_whose_every_attempt_failed_for_5_days_is_disabled(endpoint, receiver):
    receiver.status = 500
    clock = Clock(timezone.now() + timedelta(seconds=1))

    for _day in range(5):
        keep()  # a new call each day
        deliver_due(clock=clock)
        endpoint.refresh_from_db()
        assert endpoint.enabled
        clock.advance(days=1)
    keep()
    deliver_due(clock=clock)

    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "Every attempt failed for 5 days."
    # A disabled endpoint is sent nothing more, and gets no new messages.
    keep()
    clock.advance(days=1)
    deliver_due(clock=clock)
    assert Delivery.objects.filter(endpoint=endpoint).count() == 6


def test_one_success_starts_the_5_days_over(endpoint, receiver):
    receiver.status = 500
    keep()
    clock = Clock()
    deliver_due(clock=clock)
    clock.advance(days=4)
    receiver.status = 200
    deliver_due(clock=clock)  # the retry succeeds
    receiver.status = 500
    clock.advance(days=2)
    keep()
    deliver_due(clock=clock)

    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert endpoint.failing_since == clock.now


def test_one_calls_events_arrive_in_order_even_when_the_first_needs_a_retry(endpoint, receiver):
    receiver.script = [500]
    call_id = uuid.uuid4()
    upsert_call(
        call_id,
        {"caller_number": "+1555", "called_number": "8856", "started_at": timezone.now()},
    )
    upsert_call(call_id, {"ended_at": timezone.now()})
    other = keep()
    clock = Clock()

    deliver_due(clock=clock)
    # started failed; ended waits behind it; another call's event is not held up.
    assert [receiver.next().json["type"] for _ in range(2)] == ["call.started", "call.updated"]
    assert receiver.nothing_more()
    clock.advance(seconds=5)
    deliver_due(clock=clock)

    assert [receiver.next().json["type"] for _ in range(2)] == ["call.started", "call.ended"]
    assert receiver.nothing_more()
    assert other is not None


def test_a_leased_delivery_is_not_leased_again_until_its_lease_runs_out(endpoint, settings):
    settings.WEBHOOK_LEASE_SECONDS = 60
    keep()
    clock = Clock()

    first = lease(clock(), 10)
    second = lease(clock(), 10)
    clock.advance(seconds=61)
    third = lease(clock(), 10)

    assert len(first) == 1 and second == []
    # A server that died mid-send let it go: it is sent again, as the same message.
    assert [t.msg_id for t in third] == [first[0].msg_id]


def test_resend_sends_a_failed_message_again_with_the_same_id(endpoint, receiver):
    receiver.status = 500
    keep()
    clock = Clock()
    deliver_due(clock=clock)
    for delay in RETRY_DELAYS:
        clock.advance(seconds=delay.total_seconds())
        deliver_due(clock=clock)
    first_id = receiver.next().headers["webhook-id"]
    while not receiver.nothing_more(0.05):
        pass
    assert Delivery.objects.get().state == DeliveryState.FAILED

    receiver.status = 200
    assert resend_failed(endpoint, now=clock.now) == 1
    deliver_due(clock=clock)
    assert receiver.next().headers["webhook-id"] == first_id
    assert Delivery.objects.get().state == DeliveryState.DELIVERED
    assert resend(list(Delivery.objects.all()), now=clock.now) == 1
    deliver_due(clock=clock)
    assert receiver.next().headers["webhook-id"] == first_id


def test_the_log_keeps_the_first_kilobyte_of_the_answer(endpoint, receiver):
    receiver.answer = "é".encode() * 3000
    keep()

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.status == 200
    assert attempt.response.encode("utf-8", "replace")[:1024] == receiver.answer[:1024]
    assert len(attempt.response) <= 1024
    assert attempt.duration_ms >= 0


def test_a_redirect_is_a_failure_and_is_not_followed(endpoint, receiver):
    receiver.status = 302
    receiver.extra_headers = {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    keep()

    deliver_due()

    assert receiver.next().path == "/hooks/callportal"
    assert receiver.nothing_more()
    assert Attempt.objects.get().status == 302
    assert Delivery.objects.get().failures == 1


def test_a_receiver_that_does_not_answer_is_cut_off_at_the_deadline(receiver, loopback_allowed):
    receiver.hold.set()

    answer = transport.post(receiver.url, {"webhook-id": "msg_x"}, b"{}", timeout=0.5)

    assert answer.status is None
    assert answer.error == "No answer within 0.5 s."
    assert 400 <= answer.duration_ms < 3000
    assert transport.TIMEOUT_SECONDS == 5.0


def test_an_unreachable_receiver_is_a_failure_with_its_reason(endpoint, loopback_allowed):
    from callportal.tests.live_gunicorn import free_port

    Endpoint.objects.filter(pk=endpoint.pk).update(url=f"http://127.0.0.1:{free_port()}/")
    keep()

    deliver_due()

    attempt = Attempt.objects.get()
    assert attempt.status is None
    assert attempt.error.startswith("Connection failed")


def test_secrets_never_reach_the_logs(endpoint, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.status = 500
    rotated = rotate_secret(endpoint)
    keep()
    deliver_due()

    for secret in (endpoint.plain_secret, rotated):
        assert secret not in caplog.text
        assert secret.removeprefix("whsec_") not in caplog.text
    assert not Attempt.objects.filter(error__contains="whsec_").exists()


def test_an_endpoint_created_after_a_change_does_not_get_it(receiver, loopback_allowed):
    keep()
    create_endpoint(receiver.url)

    assert deliver_due() == 0
    assert receiver.nothing_more()
