"""The feeds for audit readers (a SIEM): JSON over /api/v1 with a key created with
`--audit`, which may read these and nothing else.

    GET /api/v1/access-events?call=&user=&kind=&since=&until=   (access_log)
    GET /api/v1/deletions?since=                                  (retention: the ledger)
"""

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from access_log.selectors import PAGE_SIZE_MAX, BadFilter, Cursor, EventFilter, as_json, events_page
from ingest.authentication import ApiKeyAuthentication, CanReadAuditFeeds
from ingest.exceptions import ingest_exception_handler
from ingest.views import AlwaysJson
from retention import ledger
from retention.selectors import BadCursor, ledger_page
from retention.selectors import Cursor as LedgerCursor
from shared.times import parse_datetime


class AuditFeedView(GenericAPIView):
    """What every audit feed shares: an `--audit` key in X-Api-Key (401 without a key,
    403 JSON for a key without the flag), JSON answers and errors."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanReadAuditFeeds]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJson
    # Described in docs/api.md; the OpenAPI schema covers the ingestion API only.
    schema = None

    def get_exception_handler(self) -> Any:
        return ingest_exception_handler


class AccessEventsView(AuditFeedView):
    """Events oldest first, at most 1,000 a page; `next` is the following page's URL, or
    null when this page is the last."""

    def get(self, request: Request) -> Response:
        params = request.query_params
        try:
            event_filter = EventFilter.from_params(params)
            after = Cursor.decode(params["cursor"]) if params.get("cursor") else None
        except BadFilter as bad:
            raise ValidationError({bad.name: [bad.message]}) from None
        page = events_page(event_filter, after=after, size=_page_size(params))
        next_url = None
        if page.next is not None:
            next_url = replace_query_param(
                request.build_absolute_uri(), "cursor", page.next.encode()
            )
        return Response({"next": next_url, "results": [as_json(e) for e in page.events]})


class DeletionsView(AuditFeedView):
    """The deletion ledger, oldest first, at most 1,000 entries a page; `next` is the
    following page's URL, or null when this page is the last."""

    def get(self, request: Request) -> Response:
        params = request.query_params
        since = None
        if raw := params.get("since"):
            try:
                since = parse_datetime(raw)
            except ValueError:
                raise ValidationError(
                    {"since": ["since must be a date and time in ISO 8601."]}
                ) from None
        try:
            after = LedgerCursor.decode(params["cursor"]) if params.get("cursor") else None
        except BadCursor as bad:
            raise ValidationError({"cursor": [str(bad)]}) from None
        page = ledger_page(since, after=after, size=_page_size(params))
        next_url = None
        if page.next is not None:
            next_url = replace_query_param(
                request.build_absolute_uri(), "cursor", page.next.encode()
            )
        return Response({"next": next_url, "results": [ledger.as_dict(e) for e in page.entries]})


def _page_size(params: Any) -> int:
    raw = params.get("page_size")
    if not raw:
        return PAGE_SIZE_MAX
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise ValidationError({"page_size": [f"page_size must be from 1 to {PAGE_SIZE_MAX}."]})
    return int(raw)
