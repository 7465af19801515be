"""Directory rows for tests of any room: users with an access level and extensions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model

from directory.models import Access, Extension, Group, Profile

Period = tuple[str, datetime | None, datetime | None]


def directory_user(
    username: str,
    *,
    access: str = Access.OWN,
    extensions: Sequence[str | Period] = (),
    time_zone: str = "UTC",
    password: str | None = None,
    **fields: Any,
) -> Any:
    """A user in the directory; each extension a number (always) or (number, from, until)."""
    user = get_user_model().objects.create_user(username=username, password=password, **fields)
    Profile.objects.create(user=user, access=access, time_zone=time_zone)
    for entry in extensions:
        number, start, end = (entry, None, None) if isinstance(entry, str) else entry
        Extension.objects.create(user=user, number=number, valid_from=start, valid_until=end)
    return user


def directory_group(
    name: str, *, members: Sequence[Any] = (), supervisors: Sequence[Any] = ()
) -> Group:
    group = Group.objects.create(name=name)
    group.members.set(members)
    group.supervisors.set(supervisors)
    return group


def without_csrf(content: bytes) -> bytes:
    """A page's bytes without its per-render CSRF token, to compare two answers."""
    import re

    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)
