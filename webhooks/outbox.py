"""The outbox: calls' changes become messages and deliveries in the same transaction.

`record_changes` receives calls.signals.calls_changed, which the domain sends inside the
transaction of each change (calls never imports webhooks). The rows it writes commit or
roll back with the change: no event without its change, no change without its event, a
kill -9 at any moment included. After the commit this process's deliverer is woken.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls.models import Call
from calls.signals import Changed
from directory.scopes import LoadedScope, groups_scope
from webhooks import events
from webhooks.delivery import deliverer, notify
from webhooks.models import Delivery, Endpoint, Message


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def record_changes(sender: Any, changes: Sequence[Changed], **kwargs: Any) -> None:
    endpoints = list(Endpoint.objects.filter(enabled=True).order_by("pk"))
    if not endpoints:
        return  # nobody to tell: no rows at all
    now = timezone.now()
    calls = _calls_of(changes)
    scopes = _group_scopes(endpoints)
    parties = _parties(calls) if scopes else {}
    planned: list[tuple[Message, list[Endpoint]]] = []
    for changed in changes:
        call = calls.get(changed.call_id)
        if call is None:
            continue  # gone within the same transaction; its deletion has its own event
        kind = events.event_type(changed.change)
        targets = [
            e
            for e in endpoints
            if e.wants(kind) and (e.pk not in scopes or scopes[e.pk].admits(*parties[call.pk]))
        ]
        if not targets:
            continue
        message = Message(
            msg_id=new_msg_id(),
            event_type=kind,
            call_id=changed.call_id,
            body=events.body(changed, call, now),
            created_at=now,
        )
        planned.append((message, targets))
    if not planned:
        return
    Message.objects.bulk_create([message for message, _ in planned])
    Delivery.objects.bulk_create(
        [
            Delivery(
                message=message, endpoint=endpoint, call_id=message.call_id, next_attempt_at=now
            )
            for message, targets in planned
            for endpoint in targets
        ]
    )
    notify()  # the other servers' deliverers, at commit (PostgreSQL)
    transaction.on_commit(deliverer.wake)


def _group_scopes(endpoints: list[Endpoint]) -> dict[int, LoadedScope]:
    """For each endpoint limited to groups, its scope (the groups' members' and supervisors'
    calls, as directory.scopes defines it), read once for the whole batch. Judged on the
    call as changed, so a deletion is judged on the call it deleted."""
    pairs = Endpoint.groups.through.objects.filter(
        endpoint_id__in=[e.pk for e in endpoints]
    ).values_list("endpoint_id", "group_id")
    by_endpoint: dict[int, list[int]] = {}
    for endpoint_id, group_id in pairs:
        by_endpoint.setdefault(endpoint_id, []).append(group_id)
    return {pk: groups_scope(ids).loaded() for pk, ids in by_endpoint.items()}


def _parties(calls: dict[uuid.UUID, Call]) -> dict[uuid.UUID, tuple[str, str, datetime]]:
    """Each call's numbers and start, for the group scopes. A batch may give calls read
    with only some fields (retention's purge): the rest are read in one query, before the
    rows go."""
    wanted = {"caller_number", "called_number", "started_at"}
    partial = {pk for pk, call in calls.items() if wanted & call.get_deferred_fields()}
    found = {
        pk: (call.caller_number, call.called_number, call.started_at)
        for pk, call in calls.items()
        if pk not in partial
    }
    rows = Call.objects.filter(pk__in=partial).values_list(
        "pk", "caller_number", "called_number", "started_at"
    )
    found.update((pk, (caller, called, started)) for pk, caller, called, started in rows)
    return found


def _calls_of(changes: Sequence[Changed]) -> dict[uuid.UUID, Call]:
    """Each change's call: as the change gave it, or read now (a batch gives only ids)."""
    given = {c.call_id: c.call for c in changes if c.call is not None}
    missing = {c.call_id for c in changes if c.call is None} - set(given)
    if missing:
        given.update((call.pk, call) for call in Call.objects.filter(pk__in=missing))
    return given
