"""Endpoints in the admin and with `manage.py add_webhook`; the delivery log and resend."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from calls import deletion
from calls.tests.factories import CallFactory
from webhooks.delivery import deliver_due
from webhooks.models import Delivery, DeliveryState, Endpoint

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:webhooks_endpoint_add")
LIST_URL = reverse("admin:webhooks_endpoint_changelist")
LOG_URL = reverse("admin:webhooks_delivery_changelist")


def secrets_on(html: str) -> list[str]:
    return re.findall(r"whsec_[A-Za-z0-9+/=]+", html)


# --- manage.py add_webhook -----------------------------------------------------------------


def test_add_webhook_prints_the_secret_as_its_only_line(settings):
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "add_webhook",
        "https://crm.example.com/hooks",
        "--events",
        "call.ended,call.deleted",
        stdout=out,
        stderr=err,
    )

    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("whsec_")
    endpoint = Endpoint.objects.get()
    assert endpoint.secret == lines[0]
    assert endpoint.url == "https://crm.example.com/hooks"
    assert endpoint.event_types == ["call.ended", "call.deleted"]
    assert endpoint.enabled
    # 24 or more random bytes, as Standard Webhooks' libraries read them.
    Webhook(lines[0])


def test_add_webhook_refuses_what_is_not_allowed_and_says_why(settings):
    settings.WEBHOOK_ALLOW_HTTP = False

    with pytest.raises(CommandError, match="https://"):
        call_command("add_webhook", "http://crm.example.com/hooks", stdout=io.StringIO())
    with pytest.raises(CommandError, match=r"Unknown event types: call\.exploded"):
        call_command(
            "add_webhook", "https://crm.example.com/", "--events", "call.exploded",
            stdout=io.StringIO(),
        )  # fmt: skip
    assert not Endpoint.objects.exists()


# --- the admin -------------------------------------------------------------------------------


def test_the_admin_shows_a_new_endpoints_secret_once(admin_client):
    response = admin_client.post(
        ADD_URL,
        {
            "url": "https://crm.example.com/hooks",
            "description": "CRM",
            "event_types": ["call.ended"],
            "enabled": "on",
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = secrets_on(response.content.decode())
    endpoint = Endpoint.objects.get()
    assert shown == [endpoint.secret]
    assert endpoint.event_types == ["call.ended"]
    change_page = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    listed = admin_client.get(LIST_URL)
    assert secrets_on(change_page.content.decode()) == []
    assert secrets_on(listed.content.decode()) == []
    assert endpoint.secret not in admin_client.cookies.output()


def test_the_admin_refuses_a_private_address_and_says_why(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False

    response = admin_client.post(ADD_URL, {"url": "https://169.254.169.254/", "enabled": "on"})

    assert response.status_code == 200
    assert "is not public" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_rotating_in_the_admin_shows_the_new_secret_and_keeps_the_old_one_signing(
    admin_client, endpoint
):
    old = endpoint.plain_secret

    response = admin_client.post(
        LIST_URL, {"action": "rotate_secrets", "_selected_action": [endpoint.pk]}
    )

    endpoint.refresh_from_db()
    assert secrets_on(response.content.decode()) == [endpoint.secret]
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert "24 hours" in response.content.decode()


def test_the_delivery_log_shows_attempts_and_resends_one_or_all_failed(
    admin_client, endpoint, receiver
):
    receiver.status = 500
    receiver.answer = b"receiver is down"
    call = CallFactory()
    deletion.set_keep(call.pk, True)
    deliver_due()
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.FAILED)

    listed = admin_client.get(LOG_URL).content.decode()
    page = admin_client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk]))
    html = page.content.decode()

    assert delivery.message.msg_id in listed and "500" in listed
    assert "receiver is down" in html and "call.updated" in html
    found = admin_client.get(LOG_URL, {"q": str(call.pk)}).content.decode()
    assert delivery.message.msg_id in found

    admin_client.post(LOG_URL, {"action": "resend", "_selected_action": [delivery.pk]})
    assert Delivery.objects.get().state == DeliveryState.PENDING
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.FAILED)
    admin_client.post(LIST_URL, {"action": "resend_failed", "_selected_action": [endpoint.pk]})
    assert Delivery.objects.get().state == DeliveryState.PENDING


def test_enabling_a_disabled_endpoint_in_the_admin_starts_its_failure_streak_over(
    admin_client, endpoint
):
    from django.utils import timezone

    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False,
        disabled_reason="Every attempt failed for 5 days.",
        failing_since=timezone.now(),
    )
    listed = admin_client.get(LIST_URL).content.decode()
    assert "Every attempt failed for 5 days." in listed

    admin_client.post(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        {"url": endpoint.url, "description": "", "enabled": "on"},
    )

    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == "" and endpoint.failing_since is None


def test_prune_webhooks_deletes_old_finished_messages_and_keeps_pending_ones(
    endpoint, receiver, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from webhooks.models import Attempt, Message

    settings.WEBHOOK_RETENTION_DAYS = 30
    delivered, waiting, recent = CallFactory(), CallFactory(), CallFactory()
    deletion.set_keep(delivered.pk, True)
    deliver_due()
    deletion.set_keep(waiting.pk, True)  # never sent: still pending
    Message.objects.update(created_at=timezone.now() - timedelta(days=31))
    deletion.set_keep(recent.pk, True)
    deliver_due(clock=lambda: timezone.now() - timedelta(days=40))  # nothing is due then

    out = io.StringIO()
    call_command("prune_webhooks", stdout=out)

    assert out.getvalue().strip() == "Deleted 1 webhook messages older than 30 days."
    assert set(Message.objects.values_list("call_id", flat=True)) == {waiting.pk, recent.pk}
    assert not Attempt.objects.exists()
