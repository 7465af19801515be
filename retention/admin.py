"""The ledger, the rule history and the file queue in the admin: read-only for everyone.

Rules and holds are edited in the admin pages of the `purge` room, which can count the
calls they cover (this room cannot read calls).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from retention import ledger, selectors
from retention.models import DeletionEntry, PendingFileDeletion, RuleChange
from shared.paginators import BoundedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeletionEntry)
class DeletionEntryAdmin(ReadOnlyAdmin):
    list_display = ["call", "started_on", "deleted_at", "reason", "by", "recording_sha256"]
    list_filter = ["reason"]
    search_fields = ["=call"]
    search_help_text = "A call ID."
    date_hierarchy = None
    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None

    def get_urls(self) -> list[URLPattern]:
        csv_view = self.admin_site.admin_view(self.csv_view)
        return [
            path("csv/", csv_view, name="retention_deletionentry_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra = {"csv_url": reverse("admin:retention_deletionentry_csv"), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        entries = selectors.ledger().iterator(chunk_size=2000)
        response = StreamingHttpResponse(ledger.csv_lines(entries), content_type="text/csv")
        stamp = timezone.now().strftime("%Y-%m-%d")
        response["Content-Disposition"] = f'attachment; filename="deletion-ledger-{stamp}.csv"'
        return response


@admin.register(RuleChange)
class RuleChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "rule_name", "action", "by", "before", "after"]
    list_filter = ["action"]
    search_fields = ["rule_name"]


@admin.register(PendingFileDeletion)
class PendingFileDeletionAdmin(ReadOnlyAdmin):
    list_display = ["name", "call", "queued_at", "attempts", "last_attempt_at", "error"]

    @admin.display(description="last error")
    def error(self, obj: PendingFileDeletion) -> str:
        return format_html("<span>{}</span>", obj.last_error or "-")
