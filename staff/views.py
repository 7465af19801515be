"""Staff pages: home, the call list (search) and the call page, with Verba's deep links.

Every page except home needs a logged-in user whose directory access is own or all (or a
superuser; directory.selectors.may_use_staff_pages): anonymous visitors are sent to log in
and come back afterwards, other users get 403. Each page shows only the calls in the
user's scope (directory.scopes): a call outside it answers 404 exactly as an unknown one.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe

from access_log.models import Kind, Surface
from access_log.services import Actor, record_access, record_play
from calls.links import call_url
from calls.markers import length_ms, markers_of
from calls.metadata import metadata_of
from calls.models import Call, Marker
from calls.states import State, call_state
from directory.scopes import user_scope
from directory.selectors import may_use_staff_pages, time_zone_of
from recordings import audio, serving, work
from search.staff_list import CallSearch, Cursor, search_calls
from shared import cpu_pool
from shared.clients import client_address
from shared.guids import parse_guid
from staff.forms import SEARCH_FIELDS, CallSearchForm

logger = logging.getLogger(__name__)


# Verba's search deep link parameters → the list form's fields.
_VERBA_SEARCH_PARAMS = {
    "p_phone_number": "number",
    "p_date_from": "date_from",
    "p_date_to": "date_to",
}


def staff_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Log in first (then come back), then 403 for access `none`; GET/HEAD only."""

    def gated(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if not may_use_staff_pages(request.user):
            raise PermissionDenied
        return in_users_zone(view)(request, *args, **kwargs)

    gated.__name__ = gated.__qualname__ = view.__name__
    gated.__doc__ = view.__doc__
    return require_safe(login_required(gated))


def in_users_zone(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Times shown and read in the logged-in user's own zone (access.md §3); the page's
    footer names it."""

    def zoned(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if request.user.is_authenticated:
            timezone.activate(time_zone_of(request.user))
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return zoned


def visible_calls(request: HttpRequest) -> QuerySet[Call]:
    """The calls this page's user may see: every lookup by id starts here."""
    return user_scope(request.user).filter(Call.objects.all())


def say_logged_out(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """After logging out (from the site or the admin), the next page says so."""
    if request is not None:
        messages.info(request, "You have logged out.")


@require_safe
@in_users_zone
def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {}
    if may_use_staff_pages(request.user):
        ongoing = search_calls(
            CallSearch(state=State.IN_PROGRESS), per_page=10, scope=user_scope(request.user)
        ).calls
        record_access(
            Kind.SEARCH,
            _actor(request),
            detail={
                "page": "home",
                "criteria": {"state": str(State.IN_PROGRESS)},
                "count": len(ongoing),
            },
        )
        context["ongoing"] = ongoing
    return render(request, "home.html", context)


@staff_page
def call_list(request: HttpRequest) -> HttpResponse:
    form = CallSearchForm(request.GET)
    if not form.is_valid():
        return render(
            request, "calls/list.html", {"section": "calls", "form": form, "page": None}, status=400
        )
    page = search_calls(
        form.search(),
        before=form.cleaned_data["before"],
        after=form.cleaned_data["after"],
        scope=user_scope(request.user),
    )
    record_access(
        Kind.SEARCH,
        _actor(request),
        detail={"page": "list", "criteria": _criteria(request), "count": len(page.calls)},
    )
    return render(
        request,
        "calls/list.html",
        {
            "section": "calls",
            "form": form,
            "page": page,
            "rows": [(call, call_state(call)) for call in page.calls],
            "filtered": any(form.cleaned_data.get(f) for f in SEARCH_FIELDS),
            "older_query": _page_query(request, "before", page.older),
            "newer_query": _page_query(request, "after", page.newer),
            "first_query": _page_query(request, "", None),
        },
    )


@staff_page
def verba_call_search(request: HttpRequest) -> HttpResponse:
    """Verba's search deep link, answered with the list page filtered the same way."""
    query = {
        field: request.GET[param]
        for param, field in _VERBA_SEARCH_PARAMS.items()
        if param in request.GET
    }
    url = reverse("calls:list")
    return HttpResponseRedirect(f"{url}?{urlencode(query)}" if query else url)


@staff_page
def call_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _call_page(request, get_object_or_404(visible_calls(request), pk=pk))


@staff_page
def verba_call_detail(request: HttpRequest) -> HttpResponse:
    """Verba's "Direct URL Access" link to a call, as GetCallURL returns it."""
    # A GUID in any letter case, nothing around it (not even the newline `$` would allow).
    ccdr_id = parse_guid(request.GET.get("ccdrId", ""))
    if ccdr_id is None:
        raise Http404("No call has this id.")
    return _call_page(request, get_object_or_404(visible_calls(request), pk=ccdr_id))


@staff_page
def call_recording(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """The recording for the page's player: a `play` (its range requests are one)."""
    call, response = _recording(request, pk, as_attachment=False)
    record_play(_actor(request), call.pk)
    return response


@staff_page
def call_download(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """The recording as a file to save: a `download`."""
    call, response = _recording(request, pk, as_attachment=True)
    record_access(Kind.DOWNLOAD, _actor(request), call_id=call.pk)
    return response


def _recording(
    request: HttpRequest, pk: uuid.UUID, *, as_attachment: bool
) -> tuple[Call, HttpResponseBase]:
    call = get_object_or_404(
        visible_calls(request).only("id", "recording", "recording_content_type"), pk=pk
    )
    if not call.recording:
        raise Http404("This call has no recording.")
    try:
        response = serving.recording_response(
            request,
            call.recording,
            call.recording_content_type,
            filename=f"call-{call.pk}{PurePosixPath(call.recording.name).suffix}",
            as_attachment=as_attachment,
        )
    except FileNotFoundError as missing:
        raise Http404("The recording file is missing.") from missing
    return call, response


@staff_page
def call_waveform(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The recording's waveform, drawn above the call page's player."""
    call = get_object_or_404(
        visible_calls(request).only("id", "recording", "started_at", "ended_at"), pk=pk
    )
    if not call.recording:
        raise Http404("This call has no recording.")
    try:
        etag = serving.waveform_etag(call.recording)
        response = get_conditional_response(request, etag=etag)
        if response is None:
            png = work.staff_waveform(
                call.recording, max_seconds=audio.decode_limit(call.started_at, call.ended_at)
            )
            response = HttpResponse(png, content_type="image/png")
            response["Content-Length"] = str(len(png))
    except (work.Busy, cpu_pool.PoolTimeout):
        # The page hides the picture for now; the browser asks again on its next visit.
        busy = HttpResponse("Busy drawing other waveforms.", status=503, content_type="text/plain")
        busy["Retry-After"] = str(work.RETRY_AFTER_SECONDS)
        return busy
    except (audio.UndecodableRecording, OSError) as error:
        # The page hides the waveform when its image fails; the player still offers the file.
        logger.warning(
            "Waveform: the recording of call %s cannot be read: %s",
            call.pk,
            error.__class__.__name__,
        )
        raise Http404("The recording cannot be drawn.") from None
    response["ETag"] = etag
    # Drawing decodes the whole recording: the browser keeps the image (staff-only, so
    # never in a shared cache) and asks again with If-None-Match after a day.
    response["Cache-Control"] = "private, max-age=86400"
    return response


@dataclass(frozen=True)
class _TimelineMarker:
    """A marker placed on the player's timeline, in percent of the call's length."""

    marker: Marker
    left: float
    width: float


def _timeline(call: Call) -> list[_TimelineMarker]:
    # On the recording's scale, as the waveform above the bar, when a recording says how
    # long it is: a recording shorter than its call would otherwise squeeze the markers
    # (the player fetches nothing before a play, so the page cannot wait for the browser).
    markers = markers_of(call)
    if not markers:
        return []
    seconds = work.stated_seconds(call.recording) if call.recording else None
    total = round(seconds * 1000) if seconds else length_ms(call, timezone.now())
    placed = []
    for marker in markers:
        end = marker.end_ms if marker.end_ms is not None else marker.start_ms
        left = min(marker.start_ms / total, 1.0) * 100 if total else 0.0
        right = min(end / total, 1.0) * 100 if total else 100.0
        placed.append(_TimelineMarker(marker, round(left, 3), round(max(right - left, 0.5), 3)))
    return placed


def _call_page(request: HttpRequest, call: Call) -> HttpResponse:
    record_access(Kind.VIEW, _actor(request), call_id=call.pk)
    return render(
        request,
        "calls/detail.html",
        {
            "section": "calls",
            "call": call,
            "state": call_state(call),
            "call_link": call_url(request, call.pk),
            "metadata": metadata_of(call),
            "markers": _timeline(call),
        },
    )


def _actor(request: HttpRequest) -> Actor:
    return Actor(
        surface=Surface.STAFF, user=request.user.get_username(), client=client_address(request)
    )


def _criteria(request: HttpRequest) -> dict[str, str]:
    """The list's search as the page was asked for it (its own fields only)."""
    return {
        name: request.GET[name]
        for name in (*SEARCH_FIELDS, "before", "after")
        if request.GET.get(name)
    }


def _page_query(request: HttpRequest, name: str, cursor: Cursor | None) -> str:
    """The current search's query string, moved to `cursor` (or to the first page)."""
    if name and cursor is None:
        return ""
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("after", None)
    if cursor is not None:
        query[name] = cursor.encode()
    return query.urlencode()
