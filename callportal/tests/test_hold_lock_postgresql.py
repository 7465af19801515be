"""A legal hold saved by another connection while a retention batch is being picked
protects its calls from that very batch (PostgreSQL: the holds are read again once the
batch is picked, and a SHARE lock keeps them as read until the batch commits)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from calls.models import Call
from purge.run import apply
from purge.tests.helpers import ended_days_ago
from retention.models import DeletionEntry
from retention.services import create_hold

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def test_a_hold_committed_by_another_connection_mid_batch_protects_its_calls(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    calls = [ended_days_ago(5) for _ in range(3)]
    placed: list[str] = []

    def place_hold() -> None:
        try:
            placed.append(
                create_hold("Case 9", reason="Regulator", by="counsel", call_ids=[calls[2].pk]).name
            )
        finally:
            connection.close()

    def hold_from_elsewhere() -> None:
        if not placed:
            other = threading.Thread(target=place_hold)
            other.start()
            other.join()  # committed before this batch deletes anything

    report = apply(batch_size=10, before_delete=hold_from_elsewhere)

    assert placed == ["Case 9"] and report.deleted == 2
    assert list(Call.objects.values_list("pk", flat=True)) == [calls[2].pk]
    assert calls[2].pk not in set(DeletionEntry.objects.values_list("call", flat=True))
