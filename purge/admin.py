"""Rules and legal holds in the admin, with what they cover now.

- A rule's list shows, per rule and when asked (a link: counting takes seconds on millions
  of calls), how many calls a retention run would delete now (the same figures as
  `manage.py apply_retention --dry-run`), and each rule's page its history.
  Every save and delete goes through retention.services, which records who, when, before
  and after.
- A hold's list shows how many calls it holds; a hold is released from its page, with a
  reason, never deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from calls.models import Call
from purge.run import preview
from retention import conditions, services
from retention.models import LegalHold, RetentionRule, RuleChange

# The rule list's query parameter that asks for the "due now" counts.
COUNT_PARAMETER = "count"


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "keep_days", "number_prefix", "direction", "group_names", "due_now"]
    fields = ["name", "keep_days", "number_prefix", "direction", "groups", "history"]
    filter_horizontal = ["groups"]
    readonly_fields = ["history"]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        # The counts are on demand (?count=1, the page's link), not on every load: one count
        # per rule over the calls ended before its cutoff takes seconds on millions of
        # calls. One preview for the whole page, as apply_retention --dry-run prints it.
        query = request.GET.copy()
        counting = query.pop(COUNT_PARAMETER, None) is not None
        # Not a filter of the list: the changelist must not see it.
        request.GET = query  # type: ignore[assignment]
        if not counting:
            link = format_html(
                '<a href="?{}=1">Count the calls a run would delete now</a> (one count per '
                "rule over every call: seconds on millions of calls).",
                COUNT_PARAMETER,
            )
            return super().changelist_view(request, {"subtitle": link, **(extra_context or {})})
        figures = preview()
        request._retention_preview = {f.reason: f.due for f in figures}  # type: ignore[attr-defined]
        default = figures[-1]
        counted = f"Counted at {timezone.localtime():%H:%M:%S}."
        note = (
            f"{counted} Calls no rule matches: kept for ever (RETENTION_DEFAULT_DAYS is unset)."
            if default.keep_days is None
            else f"{counted} Calls no rule matches: kept {default.keep_days} days "
            f"(RETENTION_DEFAULT_DAYS); {default.due} due now."
        )
        return super().changelist_view(request, {"subtitle": note, **(extra_context or {})})

    @admin.display(description="due now (a run would delete)")
    def due_now(self, obj: RetentionRule) -> int | str:
        # Attached by get_changelist_instance from the page's one preview.
        return getattr(obj, "_due_now", "-")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        figures = getattr(request, "_retention_preview", None)
        if figures is not None:
            for rule in changelist.result_list:
                rule._due_now = figures.get(conditions.reason_for(rule), 0)
        return changelist

    @admin.display(description="history")
    def history(self, obj: RetentionRule) -> str:
        if obj.pk is None:
            return "-"
        changes = RuleChange.objects.filter(rule_name=obj.name)[:50]
        return (
            format_html_join(
                "",
                "<div>{} · {} by {}: {} → {}</div>",
                (
                    (
                        timezone.localtime(c.at).strftime("%Y-%m-%d %H:%M"),
                        c.action,
                        c.by or "-",
                        c.before or "-",
                        c.after or "-",
                    )
                    for c in changes
                ),
            )
            or "-"
        )

    @admin.display(description="groups")
    def group_names(self, obj: RetentionRule) -> str:
        return ", ".join(g.name for g in obj.groups.all()) or "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    def save_model(self, request: HttpRequest, obj: RetentionRule, form: Any, change: bool) -> None:
        # The groups are saved with the rule, so that its history records them together.
        services.save_rule(
            obj, by=request.user.get_username(), groups=form.cleaned_data.get("groups", [])
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # save_model has saved the groups already.
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def delete_model(self, request: HttpRequest, obj: RetentionRule) -> None:
        services.delete_rule(obj, by=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for rule in queryset:
            services.delete_rule(rule, by=request.user.get_username())


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


class LegalHoldForm(forms.ModelForm):
    numbers_text = forms.CharField(
        label="numbers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One phone number per line (either party of a call).",
    )
    call_ids_text = forms.CharField(
        label="call IDs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One call ID per line.",
    )
    release = forms.BooleanField(required=False, help_text="Release this hold now.")
    release_reason_text = forms.CharField(
        label="release reason",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to release: why the hold ends.",
    )

    class Meta:
        model = LegalHold
        fields = ["name", "reason", "starts_from", "starts_until"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["numbers_text"].initial = "\n".join(self.instance.numbers)
            self.fields["call_ids_text"].initial = "\n".join(self.instance.call_ids)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("release") and not data.get("release_reason_text", "").strip():
            self.add_error("release_reason_text", "A release needs a reason.")
        held = LegalHold(
            numbers=_lines(data.get("numbers_text", "")),
            call_ids=_lines(data.get("call_ids_text", "")),
            starts_from=data.get("starts_from"),
            starts_until=data.get("starts_until"),
        )
        try:
            services.check_held_calls(held)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                target = {"numbers": "numbers_text", "call_ids": "call_ids_text"}.get(field, field)
                self.add_error(target if target in self.fields else None, errors)
            return data
        self.instance.numbers, self.instance.call_ids = held.numbers, held.call_ids
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    form = LegalHoldForm
    list_display = ["name", "active", "created_at", "created_by", "held_now", "released_at"]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["created_by", "created_at", "released_at", "released_by", "release_reason"]

    def get_fieldsets(self, request: HttpRequest, obj: LegalHold | None = None) -> Any:
        base = [
            (None, {"fields": ["name", "reason"]}),
            (
                "Calls held",
                {"fields": ["numbers_text", "starts_from", "starts_until", "call_ids_text"]},
            ),
        ]
        if obj is None:
            return base
        if obj.active:
            return [
                *base,
                ("History", {"fields": ["created_by", "created_at"]}),
                ("Release", {"fields": ["release", "release_reason_text"]}),
            ]
        return [*base, ("History", {"fields": self.readonly_fields})]

    def get_readonly_fields(self, request: HttpRequest, obj: LegalHold | None = None) -> Any:
        if obj is not None and not obj.active:
            # A released hold is history.
            return [
                "name", "reason", "numbers_text", "starts_from", "starts_until",
                "call_ids_text", *self.readonly_fields,
            ]  # fmt: skip
        return self.readonly_fields

    @admin.display(boolean=True)
    def active(self, obj: LegalHold) -> bool:
        return obj.active

    @admin.display(description="calls held now")
    def held_now(self, obj: LegalHold) -> int | str:
        if not obj.active:
            return "-"
        return Call.objects.filter(conditions.hold_q(obj)).count()

    def numbers_text(self, obj: LegalHold) -> str:
        return ", ".join(obj.numbers) or "-"

    def call_ids_text(self, obj: LegalHold) -> str:
        return format_html_join("", "<div>{}</div>", ((c,) for c in obj.call_ids)) or "-"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Released with a reason, never deleted: the record of a hold is kept.
        return False

    def save_model(self, request: HttpRequest, obj: LegalHold, form: Any, change: bool) -> None:
        by = request.user.get_username()
        if not change:
            obj.created_by = by
        obj.save()
        if form.cleaned_data.get("release"):
            services.release_hold(obj, by=by, reason=form.cleaned_data["release_reason_text"])
            messages.info(
                request, f"The hold {obj.name} is released; its calls follow their rules again."
            )
