"""The login lockout's policy: which failures lock what, and at which count.

django-axes applies one failure limit to every set of lockout parameters. Ours differ: a user
name, and a user name from one address, lock at LOGIN_FAILURE_LIMIT; an address alone (every
user name behind it: an office NAT, a CTI server, or every client when TRUSTED_PROXIES is
unset behind a proxy) only at LOGIN_ADDRESS_FAILURE_LIMIT, far higher, so that one person's
mistyped password cannot lock out everyone who shares their address.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

# In the order of AXES_LOCKOUT_PARAMETERS (settings), which axes filters its records by.
USER_NAME = ("username",)
USER_NAME_AND_ADDRESS = ("username", "ip_address")
ADDRESS = ("ip_address",)
LOCKOUT_PARAMETERS = [list(USER_NAME), list(USER_NAME_AND_ADDRESS), list(ADDRESS)]


def failure_limits() -> dict[tuple[str, ...], int]:
    """Failures that lock each kind of lock."""
    return {
        USER_NAME: settings.AXES_FAILURE_LIMIT,
        USER_NAME_AND_ADDRESS: settings.AXES_FAILURE_LIMIT,
        ADDRESS: settings.LOGIN_ADDRESS_FAILURE_LIMIT,
    }


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, with a failure limit per set of lockout parameters."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        # Axes locks when this count reaches AXES_FAILURE_LIMIT. Each set's failures are
        # scaled to that limit: floor(n * limit / own_limit) >= limit exactly when
        # n >= own_limit, so each set locks at its own count and axes needs no other change.
        limit = settings.AXES_FAILURE_LIMIT
        own_limits = failure_limits()
        worst = 0
        attempts_per_set = self.get_user_attempts(request, credentials)
        for parameters, attempts in zip(LOCKOUT_PARAMETERS, attempts_per_set, strict=True):
            failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            worst = max(worst, failures * limit // own_limits[tuple(parameters)])
        return worst
