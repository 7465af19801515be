"""`may_see_calls` for every page's navigation: the staff pages' gate, asked only when a
template shows it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from directory.selectors import may_use_staff_pages


def staff_gate(request: HttpRequest) -> dict[str, Callable[[], bool]]:
    return {"may_see_calls": lambda: may_use_staff_pages(getattr(request, "user", None))}
