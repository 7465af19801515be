"""Lifting a lock from the admin."""

from __future__ import annotations

from axes.models import AccessAttempt

from lockouts.selectors import lock_of


def lift(attempt: AccessAttempt) -> str | None:
    """Lift the lock this record takes part in, and no other: a locked user name forgets its
    failures (from every address), a locked address forgets its failures (for every user
    name). Other user names from that address, and that user name's lock elsewhere when only
    the address was locked, stay as they are. Returns what was unlocked, or None."""
    lock = lock_of(attempt)
    if lock is None:
        return None
    lifted = []
    if lock.user_name_locked:
        AccessAttempt.objects.filter(username=attempt.username).delete()
        lifted.append(f"user name “{attempt.username}”")
    if lock.address_locked:
        AccessAttempt.objects.filter(ip_address=attempt.ip_address).delete()
        lifted.append(f"address {attempt.ip_address}")
    return " and ".join(lifted)
