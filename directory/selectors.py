"""Reading a user's place in the directory: access level and time zone, with the defaults
for a user who has no profile: `own`, and the server's TIME_ZONE (UTC unless set)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings

from directory.models import DEFAULT_TIME_ZONE, Access, Profile


def profile_of(user: Any) -> Profile | None:
    """The user's profile, read once per user instance."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.directory_profile
    except Profile.DoesNotExist:
        return None


def zone_name_or_default(name: str | None) -> str:
    """A profile's zone name, or the default of a user without a profile."""
    return name or settings.TIME_ZONE


def access_of(user: Any) -> str:
    profile = profile_of(user)
    return profile.access if profile is not None else Access.OWN


def time_zone_name_of(user: Any) -> str:
    profile = profile_of(user)
    return profile.time_zone if profile is not None else settings.TIME_ZONE


def time_zone_of(user: Any) -> zoneinfo.ZoneInfo:
    return zone(time_zone_name_of(user))


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The zone of an IANA name; UTC for none (or one no longer known to this system)."""
    try:
        return zoneinfo.ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def may_use_staff_pages(user: Any) -> bool:
    """The staff pages' one gate: an active user whose access is own or all, or a
    superuser. No Django permission to pick: the access level decides."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser) or access_of(user) != Access.NONE
