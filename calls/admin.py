"""Calls in the admin, built to stay fast with millions of rows.

- No COUNT(*) of the table per page (BoundedCountPaginator, no full result count, no facets).
- Newest first on the `started_at` index; searches are exact matches, read one index per
  side (caller, called, native id, …) and merged, never an OR sorted by start.
- The date hierarchy is built from MIN/MAX (two index look-ups), not SELECT DISTINCT.
"""

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connections, transaction
from django.db.models import Max, Min, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV
from import_export.forms import SelectableFieldsExportForm
from import_export.signals import post_export

from access_log.admin import who_accessed
from access_log.models import Kind, Surface
from access_log.services import Actor, record_access
from calls import deletion, links, rules, signals, states
from calls.either_side import SidedQuerySet, any_of, term_conditions, term_sides
from calls.models import Call, Marker, MetadataField, MetadataValue
from calls.resources import CallResource
from calls.services import (
    WRITABLE_FIELDS,
    RecordingRejected,
    StorageRefused,
    check_recording,
    remove_recording,
    store_recording,
    upsert_call,
)
from calls.states import FILTER_CHOICES
from directory.scopes import user_scope
from recordings import types as recording_types
from retention.services import HELD_MESSAGE
from shared.clients import client_address
from shared.paginators import BoundedCountPaginator
from shared.read_ahead import read_ahead
from shared.times import call_length


class CallQuerySet(SidedQuerySet):
    """The admin's call queryset: its date hierarchy costs two index look-ups, and a search
    is read side by side (`get_search_results`).

    Django builds the hierarchy with SELECT DISTINCT over every matching row (a full scan of
    a large table). Here the periods are every year/month/day between the first and last
    start instead; a period without calls may be offered, and then lists nothing.
    """

    # Each side's lead is counted along its (number, started_at) index.
    count_along = ("-started_at",)

    def datetimes(  # type: ignore[override]
        self, field_name: str, kind: str, order: str = "ASC", tzinfo: Any = None
    ) -> list[datetime]:
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        first = timezone.localtime(bounds["first"]).date()
        last = timezone.localtime(bounds["last"]).date()
        return [
            timezone.make_aware(datetime.combine(d, time())) for d in _periods(first, last, kind)
        ]


def _periods(first: date, last: date, kind: str) -> list[date]:
    if kind == "year":
        return [date(y, 1, 1) for y in range(first.year, last.year + 1)]
    if kind == "month":
        months = []
        y, m = first.year, first.month
        while (y, m) <= (last.year, last.month):
            months.append(date(y, m, 1))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return months
    # Days are asked for within one month only; clamp to it.
    days = []
    d = first
    while d <= last:
        days.append(d)
        d += timedelta(days=1)
    return days


def _in_one_transaction(chunks: Iterator[Any], using: str) -> Iterator[Any]:
    """`chunks`, read inside one transaction on PostgreSQL.

    There Django's `iterator()` reads through a server-side cursor; outside a transaction
    that cursor is WITH HOLD, which makes PostgreSQL run the whole query and keep every row
    before sending the first (over the statement timeout at millions of calls). Inside
    one, each chunk is one short FETCH. SQLite reads rows lazily anyway, and a transaction
    there would hold the write lock for the whole download.
    """
    if connections[using].vendor != "postgresql":
        yield from chunks
        return
    with transaction.atomic(using=using):
        yield from chunks


class CallChangeList(ChangeList):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.query:
            # A search finds a few exact matches; drilling into them by date is no help, and
            # PostgreSQL answers MIN/MAX under a rare match by walking the whole start index
            # (about a second on a million calls). Date links already chosen still apply.
            self.date_hierarchy = None


class CallStateFilter(admin.SimpleListFilter):
    """The staff pages' state filter: the same states, words and definition (calls.states)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return FILTER_CHOICES

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is not None and value in states.LABELS:
            return queryset.filter(states.state_q(value))
        return queryset


class StartRangeFilter(admin.FieldListFilter):
    """Start date from / to (inclusive days in the server's time zone), as two date boxes."""

    template = "admin/calls/start_range_filter.html"

    def __init__(
        self, field: Any, request: HttpRequest, params: Any, model: Any, *args: Any, **kwargs: Any
    ) -> None:
        self.from_param = f"{field.name}__range_from"
        self.to_param = f"{field.name}__range_to"
        super().__init__(field, request, params, model, *args, **kwargs)
        self.title = "start date"
        self.errors: list[str] = []
        # FieldListFilter has moved our parameters into used_parameters (as lists).
        self.from_value = self._value(self.from_param)
        self.to_value = self._value(self.to_param)

    def _value(self, name: str) -> str:
        value = self.used_parameters.get(name, "")
        if isinstance(value, list):
            value = value[-1] if value else ""
        return str(value)

    def _day(self, text: str) -> date | None:
        if not text:
            return None
        try:
            day = parse_date(text)
        except ValueError:
            day = None
        if day is None:
            self.errors.append(f"“{text}” is not a date (YYYY-MM-DD).")
        return day

    def expected_parameters(self) -> list[str | None]:
        return [self.from_param, self.to_param]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        start, end = self._day(self.from_value), self._day(self.to_value)
        if start:
            queryset = queryset.filter(
                started_at__gte=timezone.make_aware(datetime.combine(start, time()))
            )
        if end:
            queryset = queryset.filter(
                started_at__lt=timezone.make_aware(
                    datetime.combine(end + timedelta(days=1), time())
                )
            )
        return queryset

    # Django's filters give links (query_string, selected, display); this one gives its
    # template (admin/calls/start_range_filter.html) the two boxes, hence the other shape.
    def choices(self, changelist: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        # Other filters and the search travel along as hidden fields of the filter's form.
        keep = {
            k: v
            for k, v in changelist.get_filters_params().items()
            if k not in (self.from_param, self.to_param)
        }
        if changelist.query:
            keep["q"] = changelist.query
        return [
            {
                "from_param": self.from_param,
                "to_param": self.to_param,
                "from_value": self.from_value,
                "to_value": self.to_value,
                "errors": self.errors,
                "keep": [(k, v[-1] if isinstance(v, list) else v) for k, v in keep.items()],
                "reset": changelist.get_query_string(remove=[self.from_param, self.to_param]),
            }
        ]


class GuidFormField(forms.UUIDField):
    """A call's id as every entry point reads it (calls.rules.guid): Django's UUIDField
    would take `{…}`, `urn:uuid:…` and 32 bare hex digits too."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, uuid.UUID) or value in self.empty_values:
            return super().to_python(value)
        try:
            return rules.guid(str(value))
        except rules.Refused as refused:
            raise forms.ValidationError(refused.sentence("The id"), code="invalid") from None


class CallAdminForm(forms.ModelForm):
    """The call's fields, plus a recording to upload or remove.

    The recording and its content type are not model fields of this form: an upload is
    checked like any other (allowed audio type, its bytes, the size limit) and stored by
    calls.services.store_recording after the call is saved.
    """

    new_recording = forms.FileField(
        label="Upload a recording",
        required=False,
        help_text="Replaces the current recording. Audio only: "
        + ", ".join(recording_types.allowed_types())
        + ".",
    )
    remove_recording = forms.BooleanField(
        label="Remove the recording", required=False, help_text="Its file is deleted."
    )

    class Meta:
        model = Call
        fields = ["id", *WRITABLE_FIELDS]
        field_classes = {"id": GuidFormField}

    def clean_new_recording(self) -> Any:
        upload = self.cleaned_data.get("new_recording")
        if not upload:
            return None
        try:
            self.recording_type = check_recording(upload, upload.content_type or "")
        except RecordingRejected as rejected:
            raise forms.ValidationError(rejected.reason, code=rejected.problem) from None
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # The input rules every entry point reads a call with.
        for name, message in rules.clean_fields(data).items():
            self.add_error(name, message)
        if data.get("new_recording") and data.get("remove_recording"):
            raise forms.ValidationError("Upload a recording or remove it, not both.")
        if (
            data.get("new_recording")
            and self.instance.pk
            and self.instance.recording
            and deletion.is_held(self.instance.pk)
        ):
            # Replacing the recording deletes the held one (calls.services refuses it too).
            self.add_error("new_recording", HELD_MESSAGE)
        if data.get("remove_recording") and self.instance.pk and deletion.is_held(self.instance.pk):
            raise forms.ValidationError(
                "The call is under legal hold: its recording cannot be removed."
            )
        return data


@admin.register(MetadataField)
class MetadataFieldAdmin(admin.ModelAdmin):
    """Custom fields integrations set with AttachMetaData (docs/admin.md)."""

    list_display = ["identifier", "label", "api_access", "created_at"]
    list_filter = ["api_access"]
    search_fields = ["identifier", "label"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: MetadataField | None = None) -> list:
        # Integrations send the identifier; renaming it would silently break them. Add a new
        # field instead.
        return [*self.readonly_fields, "identifier"] if obj else list(self.readonly_fields)


class MetadataValueInline(admin.TabularInline):
    model = MetadataValue
    extra = 0
    verbose_name = "custom metadata"
    verbose_name_plural = "custom metadata"
    fields = ["field", "value"]


class MarkerInline(admin.TabularInline):
    """Markers as AddMarker made them; removable, not editable (their rules, such as no
    overlap, are the API's)."""

    model = Marker
    extra = 0
    fields = readonly_fields = ("name", "start_ms", "end_ms", "created_at")
    ordering = ["start_ms", "name"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CallExportForm(SelectableFieldsExportForm):
    """The export's column choices named as the file heads them, in the site's words
    (cdr_csv.HEADINGS), not import-export's title-cased field names ("Native Id")."""

    def _get_field_label(self, resource: Any, field_name: str) -> str:
        field = resource.fields.get(field_name)
        return str(field.column_name) if field else field_name


_REFUSED_UPLOAD = "_callportal_refused_upload"


@dataclasses.dataclass(frozen=True)
class _RefusedUpload:
    call_id: Any
    message: str


def _store_upload(request: HttpRequest, call: Call, upload: Any, content_type: str) -> None:
    """Store the admin's upload; a storage that refuses it (a full or read-only disk) leaves
    no file and no recording, and the page says so in the storage's words (StorageRefused,
    as the APIs' 503 does) instead of a server error."""
    try:
        store_recording(call, upload, content_type)
    except StorageRefused as refused:
        setattr(request, _REFUSED_UPLOAD, _RefusedUpload(call.pk, refused.message))


@admin.register(Call)
class CallAdmin(ImportExportModelAdmin):
    form = CallAdminForm
    resource_classes = [CallResource]
    export_form_class = CallExportForm
    formats = [CSV]
    list_display = [
        "caller_number",
        "called_number",
        "started_at",
        "ended_at",
        "duration_display",
        "state",
        "keep",
    ]
    list_filter = [CallStateFilter, "direction", ("started_at", StartRangeFilter), "keep"]
    date_hierarchy = "started_at"
    ordering = ["-started_at"]
    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    # Call has no relations to join; explicit so that Django never guesses.
    list_select_related = False
    search_help_text = (
        "An exact phone number (caller or called), a call id, a native id or a platform call id."
    )
    # Declared for the search box; get_search_results decides how each term is matched.
    search_fields = ["caller_number"]
    readonly_fields = [
        "call_url",
        "recording_file",
        "delete_when_ended",
        "retention_fate",
        "recording_sha256",
        "created_at",
        "updated_at",
        "access_history",
    ]
    inlines = [MetadataValueInline, MarkerInline]
    fieldsets = [
        (None, {"fields": ["id", "call_url"]}),
        (
            "Parties",
            {
                "fields": [
                    "caller_number",
                    "caller_name",
                    "called_number",
                    "called_name",
                    "direction",
                ]
            },
        ),
        ("Time", {"fields": ["started_at", "ended_at"]}),
        ("Identifiers", {"fields": ["native_id", "platform_call_id"]}),
        ("Retention", {"fields": ["retention_fate", "keep", "delete_when_ended"]}),
        (
            "Recording",
            {
                "fields": [
                    "recording_file",
                    "recording_sha256",
                    "new_recording",
                    "remove_recording",
                ]
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"]}),
        ("Who accessed this call", {"fields": ["access_history"]}),
    ]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return CallChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Staff who are not superusers see (list, search, export, open, change) only the
        # calls in their scope: any other call's page answers as an unknown one.
        qs = user_scope(request.user).filter(super().get_queryset(request))
        return CallQuerySet(model=qs.model, query=qs.query, using=qs.db)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Exact matches only, each served by an index (no LIKE, no UPPER()).

        A GUID matches the call id; any term matches either number, the native id or the
        platform call id. Several words must all match (like the admin's default search).
        The rows are read side by side (calls/either_side.py): the first term's caller
        side, called side, … each one scan of its own index; an OR of them under the
        admin's ORDER BY started_at reads the whole start-time index for a rare number.
        """
        terms = search_term.split()
        if not terms or not isinstance(queryset, SidedQuerySet):
            return queryset, False
        sides, leads = term_sides(queryset, terms[0])
        queryset = queryset.filter(any_of(term_conditions(terms[0])))
        for term in terms[1:]:
            condition = any_of(term_conditions(term))
            sides = [side.filter(condition) for side in sides]
            leads = [lead.filter(condition) for lead in leads]
            queryset = queryset.filter(condition)
        return queryset.with_sides(sides, leads), False

    @admin.display(description="duration")
    def duration_display(self, obj: Call) -> str:
        # The staff pages' format: the same call reads "9:00" in both.
        return call_length(obj.duration) or "-"

    @admin.display(description="state", ordering="ended_at")
    def state(self, obj: Call) -> str:
        return states.LABELS[states.call_state(obj)]

    @admin.display(description="call URL")
    def call_url(self, obj: Call) -> str:
        request = getattr(obj, "_admin_request", None)
        if request is None or obj._state.adding:
            return "-"
        url = links.call_url(request, obj.pk)
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description="recording")
    def recording_file(self, obj: Call) -> str:
        if not obj.recording:
            return "-"
        url = reverse("calls:download", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a> ({})',
            url,
            obj.recording.name.rsplit("/", 1)[-1],
            obj.recording_content_type or "type unknown",
        )

    @admin.display(description="latest accesses")
    def access_history(self, obj: Call) -> str:
        request = getattr(obj, "_admin_request", None)
        if request is None or obj._state.adding:
            return "-"
        return who_accessed(obj.pk, request)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # call_url builds an absolute URL from the request when PUBLIC_URL is unset;
            # kept on the object, since this admin instance is shared between threads.
            obj._admin_request = request
        return obj

    def get_readonly_fields(self, request: HttpRequest, obj: Call | None = None) -> list[str]:
        # The id is chosen once (or imported); changing it would make another call.
        return [*self.readonly_fields, "id"] if obj else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: Call, form: Any, change: bool) -> None:
        # Through the service, like every other writer: same rules, and waiting `next`
        # long polls are woken after commit.
        fields = {name: getattr(obj, name) for name in WRITABLE_FIELDS}
        result = upsert_call(obj.pk, fields)
        # The recording is written once the admin's transaction has committed the call:
        # store_recording commits on its own, so that a failure never leaves a stray file.
        upload = form.cleaned_data.get("new_recording")
        if upload:
            transaction.on_commit(
                partial(_store_upload, request, result.call, upload, form.recording_type)
            )
        elif form.cleaned_data.get("remove_recording"):
            transaction.on_commit(partial(remove_recording, result.call))
        obj.created_at = result.call.created_at
        obj.updated_at = result.call.updated_at
        obj._state.adding = False
        # Whether the service announced a change (calls.signals); save_related announces
        # the inlines' changes otherwise.
        form.call_changed = result.changed

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().changeform_view(request, object_id, form_url, extra_context)
        # The upload is stored after the admin's transaction (save_model), so after the
        # page's answer was made: a refused one turns it into a way back to the call's page.
        refused: _RefusedUpload | None = getattr(request, _REFUSED_UPLOAD, None)
        if refused is None:
            return response
        self.message_user(
            request,
            f"The call was saved, but its recording was not stored: {refused.message}",
            messages.ERROR,
        )
        return HttpResponseRedirect(reverse("admin:calls_call_change", args=[refused.call_id]))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if change:
            # Inside the admin's transaction: the edit and its event commit together.
            changed = [*form.changed_data, *(f.prefix for f in formsets if f.has_changed())]
            record_access(
                Kind.CHANGE, _actor(request), call_id=form.instance.pk, detail={"fields": changed}
            )
        if getattr(form, "call_changed", False):
            return
        if any(formset.has_changed() for formset in formsets):
            # Custom metadata or markers edited: the call changed, in this transaction.
            call = Call.objects.get(pk=form.instance.pk)
            signals.changed(call, signals.Change.UPDATED)

    # --- the access log: each page of calls shown, each call opened, changed or deleted ---
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = (
            (response.context_data or {}).get("cl")
            if isinstance(response, TemplateResponse)
            else None
        )
        if changelist is not None and request.method == "GET":
            record_access(
                Kind.SEARCH,
                _actor(request),
                detail={
                    "criteria": _criteria(request),
                    "count": len(changelist.result_list),
                    "matching": str(changelist.result_count),
                },
            )
        return response

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Call | None = None,
    ) -> HttpResponse:
        if obj is not None and not add:
            record_access(Kind.VIEW, _actor(request), call_id=obj.pk)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def delete_model(self, request: HttpRequest, obj: Call) -> None:
        # As DeleteCall does: the recording file goes with the row, after the commit.
        self.delete_queryset(request, Call.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # get_deleted_objects has refused held calls already; CallIsHeld here means a hold
        # came in between, and the whole delete is refused by the admin's error handling.
        # The calls are locked first, so that the access log's events name exactly the calls
        # deleted; they commit with the deletion.
        with transaction.atomic():
            doomed = [call.pk for call in queryset.select_for_update().only("pk")]
            deletion.delete_calls_now(
                Call.objects.filter(pk__in=doomed), by=request.user.get_username()
            )
            actor = _actor(request)
            for call_id in doomed:
                record_access(Kind.DELETE, actor, call_id=call_id)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """The admin's delete confirmation: a held call is listed as one the user may not
        delete, so the admin refuses the whole delete, as it does for a missing permission."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        ids = [obj.pk for obj in objs]
        held = list(deletion.held(Call.objects.filter(pk__in=ids)).values_list("pk", flat=True))
        if held:
            perms_needed = {*perms_needed, f"calls under legal hold ({len(held)})"}
        return deleted, model_count, perms_needed, protected

    @admin.display(description="retention")
    def retention_fate(self, obj: Call) -> str:
        if obj._state.adding:
            return "-"
        return deletion.fate(obj)

    # --- export ------------------------------------------------------------------------
    def _do_file_export(
        self, file_format: Any, request: HttpRequest, queryset: QuerySet, export_form: Any = None
    ) -> HttpResponseBase:
        """A CSV export is streamed, with the bytes import-export's would have (the other
        formats, none offered today, are built in memory by import-export)."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        # Counted before the first byte leaves, so the event can say how many rows went.
        record_access(
            Kind.EXPORT,
            _actor(request),
            detail={
                "criteria": _criteria(request),
                "count": queryset.count(),
                "format": file_format.get_title(),
            },
        )
        if not isinstance(file_format, CSV):
            return super()._do_file_export(file_format, request, queryset, export_form)
        # What import-export hands its resource for a text format.
        options = {
            "force_native_type": False,
            "encoding": self.to_encoding,
            "export_form": export_form,
        }
        resource_class = self.choose_export_resource_class(export_form, request)
        resource = resource_class(**self.get_export_resource_kwargs(request, **options))
        fields = self.get_export_resource_fields_from_form(export_form)
        text = resource.csv_chunks(queryset, fields, **options)
        chunks = (chunk.encode(self.to_encoding or "utf-8") for chunk in text)
        # Made ahead of the client (shared/read_ahead.py): a slow download holds no
        # database connection, transaction or cursor once the rows are all read.
        response = StreamingHttpResponse(
            read_ahead(_in_one_transaction(chunks, queryset.db), using=queryset.db),
            content_type=file_format.get_content_type(),
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{self.get_export_filename(request, queryset, file_format)}"'
        )
        post_export.send(sender=None, model=self.model)
        return response

    # --- import / export permissions ---------------------------------------------------
    def has_import_permission(self, request: HttpRequest) -> bool:
        # An import creates and changes calls.
        return request.user.has_perms(["calls.add_call", "calls.change_call"])

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("calls.view_call")


def _actor(request: HttpRequest) -> Actor:
    return Actor(
        surface=Surface.ADMIN, user=request.user.get_username(), client=client_address(request)
    )


def _criteria(request: HttpRequest) -> dict[str, str | list[str]]:
    """The list's search and filters as the URL gives them (the admin's own parameters)."""
    return {
        name: values[0] if len(values) == 1 else values
        for name, values in request.GET.lists()
        if name not in ("p", "o", "_changelist_filters")
    }
