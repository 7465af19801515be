"""What a record of failed logins locks, until when and why: the admin's lockout screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

USER_NAME = "User name"
ADDRESS = "Address"
BOTH = "User name and address"


@dataclass(frozen=True)
class Lock:
    what: str  # USER_NAME, ADDRESS or BOTH
    until: datetime | None  # None: until an administrator lifts it
    why: str
    user_name_locked: bool
    address_locked: bool


def counted(now: datetime | None = None) -> QuerySet[AccessAttempt]:
    """The failures that still count: those within the lockout time (all when it is 0)."""
    attempts = AccessAttempt.objects.all()
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(
            attempt_time__gte=(now or timezone.now()) - settings.AXES_COOLOFF_TIME
        )
    return attempts


def _total(attempts: QuerySet[AccessAttempt]) -> tuple[int, datetime | None]:
    found = attempts.aggregate(n=Sum("failures_since_start"), last=Max("attempt_time"))
    return found["n"] or 0, found["last"]


def lock_of(attempt: AccessAttempt, now: datetime | None = None) -> Lock | None:
    """The lock this record takes part in, or None when its failures lock nothing (yet)."""
    recent = counted(now)
    user_failures, user_last = _total(recent.filter(username=attempt.username))
    address_failures, address_last = _total(recent.filter(ip_address=attempt.ip_address))
    user_limit = settings.AXES_FAILURE_LIMIT
    address_limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    user_locked = attempt.username is not None and user_failures >= user_limit
    address_locked = attempt.ip_address is not None and address_failures >= address_limit
    if not (user_locked or address_locked):
        return None
    reasons, lasts = [], []
    if user_locked:
        reasons.append(
            f"{user_failures} failed logins for this user name, from any address "
            f"(the limit is {user_limit})"
        )
        lasts.append(user_last)
    if address_locked:
        reasons.append(
            f"{address_failures} failed logins from this address, for any user names "
            f"(the limit is {address_limit})"
        )
        lasts.append(address_last)
    until = None
    if settings.AXES_COOLOFF_TIME is not None:
        until = max(last for last in lasts if last is not None) + settings.AXES_COOLOFF_TIME
    what = BOTH if user_locked and address_locked else USER_NAME if user_locked else ADDRESS
    return Lock(what, until, "; ".join(reasons) + ".", user_locked, address_locked)
