"""The admin's times in the logged-in user's own time zone, as on the staff pages (access.md
§3): the list, the call's page, the audit trail and the access log show (and the date
filters read) times in the zone the directory gives the user, and the footer names it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse

from staff.views import in_users_zone


class AdminInUsersZone:
    """Every admin request runs in its user's zone: the staff pages' one activation
    (`in_users_zone`) around the rest of the admin's handling. Other requests are left
    alone: the Business API answers in its token user's zone, not a session's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.zoned = in_users_zone(get_response)

    @cached_property
    def prefix(self) -> str:
        return reverse("admin:index")

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(self.prefix):
            return self.zoned(request)
        return self.get_response(request)
