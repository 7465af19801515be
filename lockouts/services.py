"""Lifting a lock from the admin: one lock, the one the administrator names."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.db import transaction

from lockouts.selectors import lock_of


def lift_user_name(attempt: AccessAttempt) -> str | None:
    """Lift the lock on this record's user name (from every address), and no other.

    The user name's failures are not deleted but unattributed: they stay counted against the
    addresses they came from, so an address that is locked stays locked (and one on its way to
    its limit keeps its count). Deleting them would lift the address's lock too. Returns what
    was unlocked, or None when the user name was not locked."""
    lock = lock_of(attempt)
    if lock is None or not lock.user_name_locked:
        return None
    with transaction.atomic():
        AccessAttempt.objects.filter(username=attempt.username).update(username=None)
        _forget_unattributed()
    return f"user name “{attempt.username}”"


def lift_address(attempt: AccessAttempt) -> str | None:
    """Lift the lock on this record's address (for every user name), and no other.

    As for a user name: the address's failures stay counted against their user names, so a
    locked user name stays locked. Returns what was unlocked, or None when the address was
    not locked."""
    lock = lock_of(attempt)
    if lock is None or not lock.address_locked:
        return None
    with transaction.atomic():
        AccessAttempt.objects.filter(ip_address=attempt.ip_address).update(ip_address=None)
        _forget_unattributed()
    return f"address {attempt.ip_address}"


def _forget_unattributed() -> None:
    # Failures left with neither a user name nor an address count towards no lock.
    AccessAttempt.objects.filter(username=None, ip_address=None).delete()
