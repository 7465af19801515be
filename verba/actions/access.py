"""The Business API's events in the access log (docs/access-log.md).

A reading action records its event once it has found the call and built its answer, before
the view hands the answer to the server, so the event is committed before the first byte
is sent. A changing action makes its change inside `changing`, which records the event in
the same transaction: both commit, or neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from access_log.models import Kind, Surface
from access_log.services import Actor, record_access
from verba.actions import Context


def actor(context: Context) -> Actor:
    """The key, and the token's user when there is one."""
    user = context.session.user.get_username() if context.session is not None else ""
    return Actor(
        surface=Surface.API,
        user=user,
        api_key=context.api_key.name,
        client=context.client_address,
    )


def record_read(
    context: Context, kind: Kind, action: str, call_id: uuid.UUID | None = None, **detail: Any
) -> None:
    record_access(kind, actor(context), call_id=call_id, detail={"action": action, **detail})


@contextmanager
def changing(
    context: Context, kind: Kind, action: str, call_id: uuid.UUID
) -> Iterator[dict[str, Any]]:
    """Make the change inside; its event is recorded in the same transaction. The dict
    yielded is the event's detail, for what the change turned out to be."""
    detail: dict[str, Any] = {"action": action}
    with transaction.atomic():
        yield detail
        record_access(kind, actor(context), call_id=call_id, detail=detail)
