"""Webhook endpoints and the delivery log in the admin.

- An endpoint's secret is shown once: on the page that answers its creation or rotation
  (rendered directly, never through a redirect, a message or a cookie), never again.
- The delivery log lists each message sent to each endpoint, with its attempts (time,
  status, duration, the first 1 KB of the answer); "resend" for chosen deliveries, and for
  all failed ones of an endpoint.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from shared.paginators import BoundedCountPaginator
from webhooks import services
from webhooks.events import EVENT_TYPES
from webhooks.models import Attempt, Delivery, Endpoint

ADMIN_DISABLED = "Disabled by an administrator."


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL", max_length=2000, assume_scheme="https", help_text=Endpoint.url.field.help_text
    )
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event type, including types added later.",
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "event_types", "groups", "enabled"]

    def clean_url(self) -> str:
        return _one_rule(services.check_url, self.cleaned_data.get("url") or "")

    def clean_event_types(self) -> list[str]:
        return _one_rule(services.check_event_types, self.cleaned_data.get("event_types") or [])


def _one_rule(check: Any, value: Any) -> Any:
    """Run the service's check; its message becomes the field's error."""
    try:
        return check(value)
    except ValidationError as error:
        raise forms.ValidationError([m for ms in error.message_dict.values() for m in ms]) from None


def _secrets_page(
    request: HttpRequest, heading: str, secrets: list[tuple[Endpoint, str]], *, rotated: bool
) -> TemplateResponse:
    response = TemplateResponse(
        request,
        "admin/webhooks/secrets.html",
        {
            **admin.site.each_context(request),
            "heading": heading,
            "secrets": secrets,
            "rotated": rotated,
            "back": reverse("admin:webhooks_endpoint_changelist"),
        },
    )
    # The page holds a secret: no cache keeps it (the admin adds no-store to its own pages
    # too; this one must have it whatever the admin does).
    add_never_cache_headers(response)
    return response


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = [
        "url",
        "enabled",
        "event_types_display",
        "failing_since",
        "disabled_reason",
        "deliveries_link",
        "created_at",
    ]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    readonly_fields = ["disabled_reason", "failing_since", "previous_secret_until", "created_at"]
    filter_horizontal = ["groups"]
    actions = ["rotate_secrets", "resend_failed"]

    @admin.display(description="event types")
    def event_types_display(self, obj: Endpoint) -> str:
        return ", ".join(obj.event_types) or "all"

    @admin.display(description="delivery log")
    def deliveries_link(self, obj: Endpoint) -> str:
        url = reverse("admin:webhooks_delivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">deliveries</a>', url)

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        if not change:
            created = services.create_endpoint(
                obj.url,
                event_types=obj.event_types,
                groups=list(form.cleaned_data.get("groups") or []),
                description=obj.description,
            )
            obj.pk = created.endpoint.pk
            obj.secret = created.secret
            obj.created_at = created.endpoint.created_at
            obj._state.adding = False
            if not obj.enabled:
                Endpoint.objects.filter(pk=obj.pk).update(
                    enabled=False, disabled_reason=ADMIN_DISABLED
                )
            obj.new_secret = created.secret  # type: ignore[attr-defined]
            return
        was_enabled = Endpoint.objects.values_list("enabled", flat=True).get(pk=obj.pk)
        obj.save(update_fields=["url", "description", "event_types", "enabled", "updated_at"])
        if obj.enabled and not was_enabled:
            services.enable(obj)
        elif was_enabled and not obj.enabled:
            Endpoint.objects.filter(pk=obj.pk).update(disabled_reason=ADMIN_DISABLED)

    def response_add(
        self, request: HttpRequest, obj: Endpoint, post_url_continue: Any = None
    ) -> HttpResponse:
        secret = getattr(obj, "new_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return _secrets_page(request, "Webhook endpoint added", [(obj, secret)], rotated=False)

    @admin.action(description="Rotate the signing secret (the old one signs for 24 h more)")
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> HttpResponse:
        rotated = [(endpoint, services.rotate_secret(endpoint)) for endpoint in queryset]
        return _secrets_page(request, "New signing secrets", rotated, rotated=True)

    @admin.action(description="Resend all failed messages")
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        count = sum(services.resend_failed(endpoint) for endpoint in queryset)
        self.message_user(
            request, f"{count} failed deliveries will be sent again.", messages.SUCCESS
        )


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    readonly_fields = ("at", "status", "duration_ms", "error", "response")
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, one row per message per endpoint."""

    list_display = [
        "event_type",
        "msg_id",
        "call_id",
        "endpoint",
        "state",
        "failures",
        "last_status",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["state", "endpoint", "message__event_type"]
    search_fields = ["message__msg_id", "call_id"]
    search_help_text = "An exact webhook-id (msg_…) or call id."
    ordering = ["-pk"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_select_related = ["message", "endpoint"]
    readonly_fields = (
        "endpoint",
        "event_type",
        "msg_id",
        "call_id",
        "state",
        "failures",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "body",
    )
    fields = readonly_fields
    inlines = [AttemptInline]
    actions = ["resend"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        latest = Attempt.objects.filter(delivery=OuterRef("pk")).order_by("-at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_status=Subquery(latest.values("status")[:1]),
                latest_error=Subquery(latest.values("error")[:1]),
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Exact matches on indexed columns only: the log can hold millions of rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("msg_"):
            return queryset.filter(message__msg_id=term), False
        try:
            return queryset.filter(call_id=term), False
        except ValidationError:
            return queryset.none(), False

    @admin.display(description="event type", ordering="message__event_type")
    def event_type(self, obj: Delivery) -> str:
        return obj.message.event_type

    @admin.display(description="webhook-id")
    def msg_id(self, obj: Delivery) -> str:
        return obj.message.msg_id

    @admin.display(description="last answer")
    def last_status(self, obj: Delivery) -> str:
        status = getattr(obj, "latest_status", None)
        if status is not None:
            return str(status)
        return getattr(obj, "latest_error", None) or "-"

    @admin.display(description="body")
    def body(self, obj: Delivery) -> str:
        return format_html("<pre>{}</pre>", obj.message.body)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Resend", permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = services.resend(list(queryset))
        self.message_user(request, f"{count} deliveries will be sent again.", messages.SUCCESS)
