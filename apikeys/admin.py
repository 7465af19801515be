"""API keys and API sessions in the admin.

Secrets never reach a page: the digest is neither shown nor editable, and a key's
plaintext appears exactly once, in the body of the answer that created or rotated it
(never in a message, a cookie, the session or the admin's history).
"""

from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.models import User
from django.db.models import Expression, IntegerField, Q, QuerySet, Value
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control

from apikeys.forms import ApiKeyAddForm, ApiKeyChangeForm
from apikeys.models import ApiKey, ApiKeyState, ApiSession
from apikeys.services import (
    DuplicateApiKey,
    KeyChangedMeanwhile,
    create_api_key,
    release_token,
    revoke_api_key,
    rotate_api_key,
)

USAGE_DAYS = 30


class KeyUsage(Protocol):
    """Where the key list's request counts and a key's usage chart come from.

    The audit trail provides it (audit.key_usage, plugged in by callportal/apps.py): apikeys
    does not import audit, and audit does not import apikeys.
    """

    def requests_since(self, since: datetime) -> Expression:
        """An expression annotating keys with their request count since `since`."""
        ...

    def daily_chart(self, api_key_id: int, days: int) -> str:
        """The key's requests per day over the last `days` days, as safe HTML."""
        ...


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(ApiKeyState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        match self.value():
            case ApiKeyState.ACTIVE:
                return queryset.filter(revoked_at__isnull=True).filter(
                    Q(expires_at__isnull=True) | Q(expires_at__gt=now)
                )
            case ApiKeyState.REVOKED:
                return queryset.filter(revoked_at__isnull=False)
            case ApiKeyState.EXPIRED:
                return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


class PermissionFilter(admin.SimpleListFilter):
    title = "permission"
    parameter_name = "permission"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("query", "Query the Business API"),
            ("change", "Change calls"),
            ("ingest", "Ingest calls"),
            ("audit", "Read the audit feeds"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "query":
                return queryset.filter(can_query=True)
            case "change":
                return queryset.filter(can_change=True)
            case "ingest":
                return queryset.filter(can_ingest=True)
            case "audit":
                return queryset.filter(audit=True)
        return queryset


def _show_once(
    request: HttpRequest, admin_site: admin.AdminSite, title: str, keys: list[tuple[ApiKey, str]]
) -> TemplateResponse:
    """The one page that ever shows plaintext keys; nothing may cache or store it."""
    context = {
        **admin_site.each_context(request),
        "title": title,
        "opts": ApiKey._meta,
        "shown_keys": [{"key": key, "plaintext": plaintext} for key, plaintext in keys],
    }
    response = TemplateResponse(request, "admin/apikeys/apikey/shown_once.html", context)
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _confirm(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    warning: str,
    button: str,
) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "objects": list(queryset),
        "action": action,
        "warning": warning,
        "button": button,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/apikeys/apikey/confirm_action.html", context)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "hint",
        "state_label",
        "requires_auth",
        "permissions",
        "network_list",
        "last_used_at",
        "requests_24h",
    ]
    list_filter = [StateFilter, PermissionFilter, "requires_auth"]
    search_fields = ["name", "hint"]
    ordering = ["name"]
    actions = ["revoke_keys", "rotate_keys"]
    filter_horizontal = ["groups"]
    readonly_fields = [
        "hint",
        "state_label",
        "created_at",
        "created_by",
        "revoked_at",
        "last_used_at",
        "usage_chart",
    ]

    # Set when the apps are ready; without it the usage columns show "-".
    usage: ClassVar[KeyUsage | None] = None

    # --- list -----------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        since = timezone.now() - timedelta(hours=24)
        count = (
            self.usage.requests_since(since)
            if self.usage is not None
            else Value(None, output_field=IntegerField())
        )
        return super().get_queryset(request).annotate(requests_24h=count)

    @admin.display(description="state", ordering="revoked_at")
    def state_label(self, obj: ApiKey) -> str:
        return obj.state.label

    @admin.display(description="permissions")
    def permissions(self, obj: ApiKey) -> str:
        granted = [
            label
            for ok, label in (
                (obj.can_query, "query"),
                (obj.can_change, "change"),
                (obj.can_ingest, "ingest"),
                (obj.audit, "audit feeds"),
            )
            if ok
        ]
        return ", ".join(granted) or "none"

    @admin.display(description="network restrictions")
    def network_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.networks) if obj.networks else "anywhere"

    @admin.display(description="requests (24 h)", ordering="requests_24h")
    def requests_24h(self, obj: ApiKey) -> int | str:
        count: int | None = getattr(obj, "requests_24h", None)  # get_queryset's annotation
        return "-" if count is None else count

    @admin.display(description=f"requests per day, last {USAGE_DAYS} days")
    def usage_chart(self, obj: ApiKey) -> str:
        if obj.pk is None or self.usage is None:
            return "-"
        return self.usage.daily_chart(obj.pk, USAGE_DAYS)

    # --- forms ------------------------------------------------------------------------
    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        kwargs["form"] = ApiKeyChangeForm if obj else ApiKeyAddForm
        if obj is None or obj.revoked_at is None:
            kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: ApiKey | None = None) -> list:
        if obj is None:
            return [
                (None, {"fields": ["name", "existing_key"]}),
                (
                    "Access",
                    {"fields": ["can_query", "can_change", "can_ingest", "audit", "requires_auth"]},
                ),
                ("Limits", {"fields": ["expires_at", "networks", "groups"]}),
            ]
        return [
            (None, {"fields": ["name", "hint", "state_label"]}),
            (
                "Access",
                {"fields": ["can_query", "can_change", "can_ingest", "audit", "requires_auth"]},
            ),
            ("Limits", {"fields": ["expires_at", "networks", "groups"]}),
            ("Usage", {"fields": ["usage_chart", "last_used_at"]}),
            ("History", {"fields": ["created_at", "created_by", "revoked_at"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list:
        return self.readonly_fields if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Keys are revoked, never deleted, so the audit trail keeps naming them.
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # A revoked key can never work again: changing its access or limits would mean
        # nothing, and its page stays as it was when it was revoked.
        if obj is not None and obj.revoked_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        key = self.get_object(request, object_id)
        if key is not None and key.revoked_at is not None and request.method == "GET":
            revoked = formats.localize(timezone.localtime(key.revoked_at))
            self.message_user(
                request,
                f"This API key was revoked on {revoked}: it can never be used again, so it "
                "can no longer be changed. It is kept so the audit trail keeps naming it. "
                "Add a new key for the integration that used it.",
                messages.WARNING,
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        key, plaintext = create_api_key(
            data["name"],
            key=data.get("existing_key"),
            requires_auth=data["requires_auth"],
            networks=data["networks"],
            can_query=data["can_query"],
            can_change=data["can_change"],
            can_ingest=data["can_ingest"],
            audit=data["audit"],
            expires_at=data["expires_at"],
            created_by=request.user if isinstance(request.user, User) else None,
        )
        obj.pk = key.pk
        obj.__dict__.update(
            {f.attname: getattr(key, f.attname) for f in ApiKey._meta.concrete_fields}
        )
        obj._state.adding = False
        obj._state.db = key._state.db  # the groups chosen are saved on it next
        # Held on the request only, for response_add's one page.
        request._api_key_plaintext = plaintext  # type: ignore[attr-defined]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except DuplicateApiKey:
            # The form found the key new, then another import of it committed first; the
            # admin's transaction has rolled back, so nothing was added.
            self.message_user(
                request,
                "This API key already exists: it was imported by someone else at the same "
                "moment. Nothing was added.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        plaintext = getattr(request, "_api_key_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        imported = bool(request.POST.get("existing_key", "").strip())
        self.message_user(
            request,
            f"The API key “{obj.name}” was {'imported' if imported else 'added'}. "
            "Copy the key below now: it will not be shown again.",
            messages.SUCCESS,
        )
        return _show_once(request, self.admin_site, "API key added", [(obj, plaintext)])

    # --- actions ----------------------------------------------------------------------
    @admin.action(description="Revoke selected API keys (irreversible)", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        if request.POST.get("post") != "yes":
            return _confirm(
                self,
                request,
                queryset,
                action="revoke_keys",
                title="Revoke API keys?",
                warning="Revoking is irreversible: these keys stop working at once and can "
                "never be used again. Integrations using them need a new key.",
                button="Yes, revoke",
            )
        revoked = 0
        for key in queryset:
            if key.revoked_at is None:
                revoke_api_key(key)
                self.log_change(request, key, "Revoked.")
                revoked += 1
        self.message_user(request, f"{revoked} API key(s) revoked.", messages.SUCCESS)
        return None

    @admin.action(description="Rotate selected API keys (new secret)", permissions=["change"])
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        if request.POST.get("post") != "yes":
            return _confirm(
                self,
                request,
                queryset,
                action="rotate_keys",
                title="Rotate API keys?",
                warning="Each key gets a new secret, shown once on the next page. The old "
                "secret stops working at once. Revoked keys are skipped.",
                button="Yes, rotate",
            )
        rotated: list[tuple[ApiKey, str]] = []
        for key in queryset:
            if key.revoked_at is not None:
                self.message_user(
                    request, f"“{key.name}” is revoked and was not rotated.", messages.WARNING
                )
                continue
            try:
                rotated.append((key, rotate_api_key(key)))
            except KeyChangedMeanwhile:
                self.message_user(
                    request,
                    f"“{key.name}” was rotated or revoked by someone else at the same moment "
                    "and was not rotated again: its current secret is the one shown to them. "
                    "Rotate it again if you need a secret of your own.",
                    messages.WARNING,
                )
                continue
            self.log_change(request, key, "Rotated the secret.")
        if not rotated:
            return None
        self.message_user(
            request,
            f"{len(rotated)} API key(s) rotated. Copy the new keys below now: they will not "
            "be shown again.",
            messages.SUCCESS,
        )
        return _show_once(request, self.admin_site, "API keys rotated", rotated)


class KeyFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "API key"


class SessionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("active", "Active"), ("released", "Released"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        match self.value():
            case "active":
                return queryset.filter(released_at__isnull=True, expires_at__gt=now)
            case "released":
                return queryset.filter(released_at__isnull=False)
            case "expired":
                return queryset.filter(released_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiSession)
class ApiSessionAdmin(admin.ModelAdmin):
    list_display = [
        "session",
        "api_key",
        "user",
        "created_at",
        "expires_at",
        "last_used_at",
        "client_address",
        "state",
    ]
    list_display_links = ["session"]
    list_filter = [SessionStateFilter, ("api_key", KeyFilter)]
    list_select_related = ["api_key", "user"]
    search_fields = ["user__username", "api_key__name"]
    ordering = ["-created_at"]
    actions = ["release_sessions"]
    # No token_digest anywhere: not listed, not shown, not editable.
    fields = readonly_fields = (
        "api_key",
        "user",
        "created_at",
        "expires_at",
        "released_at",
        "last_used_at",
        "client_address",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Sessions start only through RequestToken, which hands the token to the client.
        return False

    @admin.display(description="session", ordering="pk")
    def session(self, obj: ApiSession) -> str:
        return f"Session {obj.pk}"

    @admin.display(description="state")
    def state(self, obj: ApiSession) -> str:
        # The words of the filter beside it, and of the key list's Active/Revoked.
        if obj.released_at is not None:
            return "Released"
        return "Active" if obj.is_active else "Expired"

    @admin.action(
        description="Release selected sessions (end the tokens now)", permissions=["change"]
    )
    def release_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        released = 0
        for session in queryset.filter(released_at__isnull=True):
            release_token(session)
            self.log_change(request, session, "Released.")
            released += 1
        self.message_user(request, f"{released} session(s) released.", messages.SUCCESS)
