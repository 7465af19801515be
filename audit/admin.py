"""The audit trail in the admin: read-only, filterable, cheap on a large table."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import conditional_escape, format_html

from audit.charts import RESULT_CODES, code_label
from audit.models import ApiRequest
from shared.paginators import BoundedCountPaginator


class ResultCodeFilter(admin.SimpleListFilter):
    # The codes are a fixed list: no SELECT DISTINCT over the whole trail to build it.
    title = "result code"
    parameter_name = "result_code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [(str(code), code_label(code)) for code in RESULT_CODES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        try:
            return queryset.filter(result_code=int(value))
        except ValueError:
            return queryset.none()


class KeyFilter(admin.RelatedFieldListFilter):
    """By API key, with the requests that named no stored key said in words, not "-"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "API key"
        self.empty_value_display = conditional_escape("No valid key")


class TimeFilter(admin.DateFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "time"


@admin.register(ApiRequest)
class ApiRequestAdmin(admin.ModelAdmin):
    list_display = [
        "time",
        "action",
        "key",
        "user",
        "client_address",
        "result",
        "call_link",
        "change",
        "duration_ms",
    ]
    # The detail page in the list's words: "API key", "Call", "Result: OK (0)", not the
    # model's field names ("Api key", "Call id", "Result code: 0").
    fields = [
        "time",
        "action",
        "key",
        "user",
        "address",
        "result",
        "call_link",
        "change",
        "duration",
    ]
    list_filter = [("api_key", KeyFilter), ResultCodeFilter, ("at", TimeFilter)]
    list_select_related = ["api_key", "user"]
    ordering = ["-at"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiRequest | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiRequest | None = None) -> bool:
        # The trail is evidence: nobody edits or prunes it from the admin.
        return False

    @admin.display(description="time", ordering="at")
    def time(self, obj: ApiRequest) -> str:
        return formats.date_format(timezone.localtime(obj.at), "DATETIME_FORMAT")

    @admin.display(description="API key", ordering="api_key")
    def key(self, obj: ApiRequest) -> str:
        return obj.api_key.name if obj.api_key is not None else "No valid key"

    @admin.display(description="address")
    def address(self, obj: ApiRequest) -> str:
        return obj.client_address or "-"

    @admin.display(description="duration")
    def duration(self, obj: ApiRequest) -> str:
        return f"{obj.duration_ms} ms"

    @admin.display(description="result", ordering="result_code")
    def result(self, obj: ApiRequest) -> str:
        return code_label(obj.result_code)

    @admin.display(description="call")
    def call_link(self, obj: ApiRequest) -> str:
        if obj.call_id is None:
            return "-"
        # A link by id, without a query per row; a deleted call answers the admin's 404.
        url = reverse("admin:calls_call_change", args=[obj.call_id])
        return format_html('<a href="{}">{}</a>', url, obj.call_id)
