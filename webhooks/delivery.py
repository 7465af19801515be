"""Sending the outbox: leasing due deliveries, one attempt each, the retry schedule.

- **Who sends**: every app server process runs a `Deliverer` (a thread, started by
  gunicorn's worker hook like the deletion sweeper). It is woken right after a commit that
  wrote messages in its own process; on PostgreSQL also by a NOTIFY on CHANNEL, which every
  transaction that writes messages sends (so messages from other servers, `import_calls`
  or a retention run are sent at once too); and it looks for due deliveries every
  WEBHOOK_POLL_SECONDS anyway (retries, a lost notification).
- **Leases**: a server takes due deliveries with `SELECT … FOR UPDATE SKIP LOCKED` and marks
  them leased for WEBHOOK_LEASE_SECONDS before it sends, so several servers do not send the
  same message. A server killed mid-send lets its lease run out, and the delivery is sent
  again (same `webhook-id`): at least once, never lost.
- **In order per call**: a delivery is not due while an earlier one of the same call to the
  same endpoint is still pending (waiting for a retry, or being sent).
- **Retries** (Standard Webhooks' schedule): after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
  10 h; the eighth failure fails the delivery. An endpoint whose attempts have all failed
  for 5 days is disabled.
- Sending holds no database connection: the lease and the result are short transactions
  around it; an attempt never waits longer than transport.TIMEOUT_SECONDS.

Every time here comes from a clock the caller may pass (tests move it instead of sleeping).
"""

from __future__ import annotations

import logging
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from webhooks import signing, transport
from webhooks.models import Attempt, Delivery, DeliveryState, Endpoint

logger = logging.getLogger(__name__)

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# An endpoint whose every attempt failed for this long is disabled.
DISABLE_AFTER = timedelta(days=5)
DISABLED_REASON = "Every attempt failed for 5 days."

Clock = Callable[[], datetime]

# The PostgreSQL notification channel: a transaction that writes messages notifies it, and
# PostgreSQL delivers the notification to every listening deliverer when it commits.
CHANNEL = "callportal_webhooks"


def notify() -> None:
    """Tell every server's deliverer, at commit, that messages were written (PostgreSQL;
    elsewhere the writing process's own wake-up and the poll do)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")


@dataclass(frozen=True)
class Leased:
    """What a sender needs, read while leasing: no database access while sending."""

    delivery_id: int
    endpoint_id: int
    msg_id: str
    url: str
    body: bytes
    secrets: tuple[str, ...]


def signing_secrets(endpoint: Endpoint, now: datetime) -> tuple[str, ...]:
    """The secrets that sign now: the current one, and the previous one during its 24 h."""
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and (now < endpoint.previous_secret_until)
    ):
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def due_deliveries(now: datetime) -> QuerySet[Delivery]:
    earlier_pending = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        call_id=OuterRef("call_id"),
        state=DeliveryState.PENDING,
        pk__lt=OuterRef("pk"),
    )
    return (
        Delivery.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .filter(~Exists(earlier_pending))
        .order_by("pk")
    )


def lease(now: datetime, limit: int) -> list[Leased]:
    """Take up to `limit` due deliveries for WEBHOOK_LEASE_SECONDS; oldest first."""
    if limit <= 0:
        return []
    with transaction.atomic():
        ids = list(
            due_deliveries(now)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(
            leased_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        )
        rows = (
            Delivery.objects.filter(pk__in=ids).select_related("message", "endpoint").order_by("pk")
        )
        return [
            Leased(
                delivery_id=d.pk,
                endpoint_id=d.endpoint_id,
                msg_id=d.message.msg_id,
                url=d.endpoint.url,
                body=d.message.body.encode("utf-8"),
                secrets=signing_secrets(d.endpoint, now),
            )
            for d in rows
        ]


def attempt(leased: Leased) -> transport.Answer:
    """One signed POST. The signature's timestamp is the wall clock's: receivers compare it
    with theirs."""
    timestamp = int(time.time())
    headers = signing.headers(list(leased.secrets), leased.msg_id, timestamp, leased.body)
    return transport.post(leased.url, headers, leased.body)


def record(leased: Leased, answer: transport.Answer, at: datetime) -> None:
    """Write the attempt and what follows from it: delivered, a retry, or failed."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=leased.delivery_id).first()
        if delivery is None:
            return  # the endpoint was deleted meanwhile
        Attempt.objects.create(
            delivery=delivery,
            at=at,
            status=answer.status,
            duration_ms=answer.duration_ms,
            response=answer.excerpt.decode("utf-8", errors="replace").replace("\x00", ""),
            error=answer.error[:255],
        )
        delivery.last_attempt_at = at
        delivery.leased_until = None
        if delivery.state != DeliveryState.PENDING:
            # Sent twice (a lease that ran out mid-send); the first result stands.
            delivery.save(update_fields=["last_attempt_at", "leased_until"])
            return
        endpoint = Endpoint.objects.filter(pk=delivery.endpoint_id)
        if answer.succeeded:
            delivery.state = DeliveryState.DELIVERED
            delivery.delivered_at = at
            # Matches no row (and locks none) unless the endpoint was failing.
            endpoint.filter(failing_since__isnull=False).update(failing_since=None)
        else:
            delivery.failures += 1
            if delivery.failures > len(RETRY_DELAYS):
                delivery.state = DeliveryState.FAILED
            else:
                delivery.next_attempt_at = at + RETRY_DELAYS[delivery.failures - 1]
            endpoint.filter(failing_since__isnull=True).update(failing_since=at)
            disabled = endpoint.filter(enabled=True, failing_since__lte=at - DISABLE_AFTER).update(
                enabled=False, disabled_reason=DISABLED_REASON
            )
            if disabled:
                logger.warning(
                    "Webhook endpoint %s disabled: %s", leased.endpoint_id, DISABLED_REASON
                )
        delivery.save()


def deliver_due(*, clock: Clock = timezone.now, limit: int = 100) -> int:
    """Lease, send and record the due deliveries, one after another; how many were sent.

    The deliverer thread does the same with its senders; tests and `manage.py
    deliver_webhooks` call this.
    """
    sent = 0
    # Until nothing is due: a delivery sent may make the next one of its call due.
    while batch := lease(clock(), limit):
        for leased in batch:
            record(leased, attempt(leased), clock())
        sent += len(batch)
    return sent


class Deliverer:
    """This process's delivery: one thread that leases, WEBHOOK_CONCURRENCY senders.

    Started by gunicorn's worker hook; starting it again is harmless. With
    WEBHOOK_POLL_SECONDS = 0 the process does not deliver (tests, one-off commands).
    """

    def __init__(self, clock: Clock = timezone.now) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        # Set while the listener is LISTENing (tests wait for it).
        self.listening = threading.Event()
        self._pid = os.getpid()
        self._queue: queue.Queue[Leased | None] = queue.Queue()
        self._in_flight = 0
        self._counts = threading.Condition(self._lock)
        self.recorded = 0

    def start(self) -> None:
        if settings.WEBHOOK_POLL_SECONDS <= 0:
            return
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker inherits the object but not its threads.
                self._pid = os.getpid()
                self._thread = None
                self._queue = queue.Queue()
                self._in_flight = 0
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopped.clear()
            self._threads = [
                threading.Thread(target=self._send_forever, name=f"webhook-sender-{n}", daemon=True)
                for n in range(settings.WEBHOOK_CONCURRENCY)
            ]
            self._thread = threading.Thread(target=self._run, name="webhook-deliverer", daemon=True)
            self._threads.append(self._thread)
            if connection.vendor == "postgresql":
                self._threads.append(
                    threading.Thread(target=self._listen, name="webhook-listener", daemon=True)
                )
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop this process's threads and wait for them (tests); False if one is left."""
        with self._lock:
            threads, self._threads, self._thread = self._threads, [], None
        self._stopped.set()
        self._wake.set()
        for _ in threads:
            self._queue.put(None)  # one for each sender; the rest are never read
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)

    def _running(self) -> bool:
        return settings.WEBHOOK_POLL_SECONDS > 0 and not self._stopped.is_set()

    def wake(self) -> None:
        """Look for due deliveries now (after a commit that wrote messages)."""
        self._wake.set()

    def wait_recorded(self, count: int, timeout: float) -> bool:
        """Wait until `count` more attempts have been recorded (tests); False on timeout."""
        with self._counts:
            target = self.recorded + count
            return self._counts.wait_for(lambda: self.recorded >= target, timeout)

    def _run(self) -> None:
        while self._running():
            self._wake.clear()
            with self._lock:
                free = settings.WEBHOOK_CONCURRENCY - self._in_flight
            try:
                batch = lease(self.clock(), free)
            except DatabaseError as exc:
                logger.warning("Webhook lease failed (%s); retrying", type(exc).__name__)
                batch = []
            except Exception:
                # The thread must outlive any error, or nothing would be sent any more.
                logger.exception("Webhook lease failed; retrying")
                batch = []
            finally:
                connections.close_all()
            with self._lock:
                self._in_flight += len(batch)
            for leased in batch:
                self._queue.put(leased)
            if len(batch) < free or free <= 0:
                # Nothing more is due (or no sender is free): wait for a commit that wrote
                # messages, a sender that finished, or the next look. After a full batch
                # it looks again at once.
                self._wake.wait(settings.WEBHOOK_POLL_SECONDS)

    def _listen(self) -> None:
        """LISTEN on CHANNEL on a connection of its own (outside the pool: it waits for
        ever) and wake the loop at each notification. On any failure it connects again
        after WEBHOOK_POLL_SECONDS; meanwhile the poll carries on alone."""
        while self._running():
            listener = None
            try:
                import psycopg2

                listener = psycopg2.connect(**connection.get_connection_params())
                listener.autocommit = True
                with listener.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                while self._running():
                    # Bounded, so that the loop notices being stopped.
                    if select.select([listener], [], [], 1.0)[0]:
                        listener.poll()
                        if listener.notifies:
                            listener.notifies.clear()
                            self._wake.set()
            except Exception as exc:
                logger.warning(
                    "Webhook notifications unavailable (%s); polling every %s s",
                    type(exc).__name__,
                    settings.WEBHOOK_POLL_SECONDS,
                )
                self._stopped.wait(max(settings.WEBHOOK_POLL_SECONDS, 1.0))
            finally:
                self.listening.clear()
                if listener is not None:
                    listener.close()

    def _send_forever(self) -> None:
        while True:
            leased = self._queue.get()
            if leased is None:
                return  # stopped
            try:
                answer = attempt(leased)
                record(leased, answer, self.clock())
            except DatabaseError as exc:
                # The lease runs out and the delivery is sent again: nothing is lost.
                logger.warning("Webhook result not recorded (%s)", type(exc).__name__)
            except Exception:
                logger.exception("Webhook delivery %s failed unexpectedly", leased.delivery_id)
            finally:
                connections.close_all()
                with self._counts:
                    self._in_flight -= 1
                    self.recorded += 1
                    self._counts.notify_all()
                self._wake.set()


deliverer = Deliverer()
