"""The "Login lockouts" screen: what is locked, until when, why; lifting one lock.

It replaces django-axes' own admin (AXES_ENABLE_ADMIN is off): its sections for successful
logins and a failure log stay empty here, and its attempt list spoke the library's words.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone

from lockouts.models import FailedLogins
from lockouts.selectors import Lock, counted, lock_of
from lockouts.services import lift_address, lift_user_name

NOT_LOCKED = "Not locked"


def _lock(obj: FailedLogins) -> Lock | None:
    """The row's lock, worked out once per row for the three columns that show it."""
    if not hasattr(obj, "_lock"):
        obj._lock = lock_of(obj)
    return obj._lock


@admin.register(FailedLogins)
class FailedLoginsAdmin(admin.ModelAdmin):
    list_display = (
        "user_name",
        "address",
        "failed_logins",
        "last_failure",
        "where",
        "locked",
        "locked_until",
        "why",
    )
    list_display_links = None
    search_fields = ("username", "ip_address")
    actions = ["lift_user_name_locks", "lift_address_locks"]
    ordering = ("-attempt_time",)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # type: ignore[no-untyped-def]
        return super().changelist_view(
            request, {"title": "Login lockouts", **(extra_context or {})}
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[FailedLogins]:
        # Only the failures that still count (those older than the lockout time lock nothing).
        return super().get_queryset(request).filter(pk__in=counted().values("pk"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="User name", ordering="username")
    def user_name(self, obj: FailedLogins) -> str:
        return obj.username or "—"

    @admin.display(description="Address", ordering="ip_address")
    def address(self, obj: FailedLogins) -> str:
        return obj.ip_address or "—"

    @admin.display(description="Failed logins", ordering="failures_since_start")
    def failed_logins(self, obj: FailedLogins) -> int:
        return obj.failures_since_start

    @admin.display(description="Last failure", ordering="attempt_time")
    def last_failure(self, obj: FailedLogins) -> str:
        return formats.localize(timezone.localtime(obj.attempt_time))

    @admin.display(description="Where")
    def where(self, obj: FailedLogins) -> str:
        return obj.path_info

    @admin.display(description="Locked")
    def locked(self, obj: FailedLogins) -> str:
        lock = _lock(obj)
        return lock.what if lock else NOT_LOCKED

    @admin.display(description="Locked until")
    def locked_until(self, obj: FailedLogins) -> str:
        lock = _lock(obj)
        if lock is None:
            return "—"
        if lock.until is None:
            return "until lifted here"
        return formats.localize(timezone.localtime(lock.until))

    @admin.display(description="Why")
    def why(self, obj: FailedLogins) -> str:
        lock = _lock(obj)
        return lock.why if lock else "—"

    # One action per kind of lock: a row locked both ways (its user name and its address)
    # has its one lock lifted, the one the action names; the other stays.
    @admin.action(description="Lift the user name's lock (from every address)")
    def lift_user_name_locks(self, request: HttpRequest, queryset: QuerySet[FailedLogins]) -> None:
        self._lift(request, queryset, lift_user_name, "user name", "username")

    @admin.action(description="Lift the address's lock (for every user name)")
    def lift_address_locks(self, request: HttpRequest, queryset: QuerySet[FailedLogins]) -> None:
        self._lift(request, queryset, lift_address, "address", "ip_address")

    def _lift(
        self,
        request: HttpRequest,
        queryset: QuerySet[FailedLogins],
        lift: Callable[[FailedLogins], str | None],
        kind: str,
        field: str,
    ) -> None:
        done: set[object] = set()
        for attempt in list(queryset):
            value = getattr(attempt, field)
            if value in done:  # several rows of one user name or address: one lock
                continue
            done.add(value)
            lifted = lift(attempt)
            if lifted:
                self.message_user(request, f"Unlocked the {lifted}.", messages.SUCCESS)
            else:
                shown = f"“{value}”" if kind == "user name" and value else value or "—"
                self.message_user(
                    request,
                    f"The {kind} {shown} is not locked: nothing was lifted.",
                    messages.WARNING,
                )
