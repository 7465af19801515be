"""The access log in the admin: read-only for everyone, superusers included.

Listed newest first and filtered by kind, surface, time, user (`?user=`) or call
(`?call_id=`); the list as filtered downloads as CSV; each call's admin page shows its
latest events (`who_accessed`).
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from access_log.models import AccessEvent
from access_log.selectors import as_rows
from shared.guids import parse_guid
from shared.paginators import BoundedCountPaginator
from shared.spreadsheets import escape_cell

# How many of a call's events its admin page shows (the rest are one link away).
CALL_PAGE_EVENTS = 20


class TimeFilter(admin.DateFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "time"


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ["time", "kind", "call_link", "user_link", "api_key", "surface", "client"]
    list_filter = ["kind", "surface", ("at", TimeFilter)]
    search_fields = ["user"]  # get_search_results decides how a term matches
    search_help_text = "An exact user name, API key name or call id."
    ordering = ["-at", "-id"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    fields = readonly_fields = (
        "at",
        "kind",
        "call_id",
        "user",
        "api_key",
        "surface",
        "client",
        "detail_text",
    )

    # --- read-only for everyone ---------------------------------------------------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Evidence: only `manage.py prune_access_log` removes events, by age.
        return False

    # --- list -----------------------------------------------------------------------------
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Exact matches on indexed columns only: no LIKE over a large table.
        term = search_term.strip()
        if not term:
            return queryset, False
        call_id = parse_guid(term)
        if call_id is not None:
            return queryset.filter(call_id=call_id), False
        return queryset.filter(user=term) | queryset.filter(api_key=term), False

    @admin.display(description="time", ordering="at")
    def time(self, obj: AccessEvent) -> str:
        return formats.date_format(timezone.localtime(obj.at), "DATETIME_FORMAT")

    @admin.display(description="call")
    def call_link(self, obj: AccessEvent) -> str:
        if obj.call_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', _filtered(call_id=obj.call_id), obj.call_id)

    @admin.display(description="user", ordering="user")
    def user_link(self, obj: AccessEvent) -> str:
        if not obj.user:
            return "-"
        return format_html('<a href="{}">{}</a>', _filtered(user=obj.user), obj.user)

    @admin.display(description="detail")
    def detail_text(self, obj: AccessEvent) -> str:
        return json.dumps(obj.detail, sort_keys=True, ensure_ascii=False, indent=2)

    # --- CSV --------------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv),
            name="access_log_accessevent_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        query = request.GET.urlencode()
        export_url = reverse("admin:access_log_accessevent_export")
        context = {
            **(extra_context or {}),
            "export_url": f"{export_url}?{query}" if query else export_url,
        }
        return super().changelist_view(request, context)

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list as filtered (filters and search of the list's URL), oldest first."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        events = self.get_changelist_instance(request).get_queryset(request)
        writer = csv.writer(_Echo())
        rows = (writer.writerow([escape_cell(cell) for cell in row]) for row in as_rows(events))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="access-log-{stamp}.csv"'
        return response


class _Echo:
    """csv.writer's file: each written row comes back as the writer's return value."""

    def write(self, value: str) -> str:
        return value


def _filtered(**lookup: Any) -> str:
    return f"{reverse('admin:access_log_accessevent_changelist')}?{urlencode(lookup)}"


def who_accessed(call_id: uuid.UUID, request: HttpRequest) -> SafeString | str:
    """The call's latest events as a small table for its admin page, with a link to all of
    them; "-" for a user who may not read the access log."""
    if not request.user.has_perm("access_log.view_accessevent"):
        return "-"
    events: Iterable[AccessEvent] = AccessEvent.objects.filter(call_id=call_id).order_by(
        "-at", "-id"
    )[:CALL_PAGE_EVENTS]
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                formats.date_format(timezone.localtime(e.at), "DATETIME_FORMAT"),
                e.kind,
                e.user or "-",
                e.api_key or "-",
                e.surface,
            )
            for e in events
        ),
    )
    if not rows:
        return "Nobody yet."
    return format_html(
        "<table><thead><tr><th>time</th><th>kind</th><th>user</th><th>API key</th>"
        "<th>surface</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">Every access to this call</a></p>',
        rows,
        _filtered(call_id=call_id),
    )
