"""The call ingestion API: thin views over calls.services and ingest.selectors."""

import uuid
from collections.abc import Iterable
from typing import IO, Any, NoReturn

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    NotAuthenticated,
    NotFound,
    ParseError,
    PermissionDenied,
    ValidationError,
)
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from access_log.models import Kind, Surface
from access_log.services import Actor, record_access
from apikeys.models import ApiKey
from apikeys.selectors import key_scope
from calls import rules, services
from calls.deletion import CallIsHeld
from calls.models import Call
from directory.scopes import Scope
from ingest import selectors
from ingest.authentication import MISSING_KEY_MESSAGE, ApiKeyAuthentication, CanIngest
from ingest.exceptions import ingest_exception_handler
from ingest.parsers import JsonParser
from ingest.serializers import CallListQuerySerializer, CallSerializer
from retention.services import HELD_MESSAGE
from shared.clients import client_address
from shared.connections import give_back_connection

NOT_FOUND_MESSAGE = "No call with this id."
# A key limited to groups writes only calls of its groups (access.md §2), and names by id
# only calls it can see: an id it cannot see is refused in one sentence, whether no call has
# it or a call outside the key's groups does (which must not show). docs/access.md.
CHOSEN_ID_MESSAGE = (
    "A key limited to groups may give the id only of a call of its groups; leave the id "
    "out to create a call (one is generated)."
)
OUTSIDE_SCOPE_MESSAGE = (
    "This key may write only calls of its groups: a number of the call must belong to one "
    "of their members or supervisors at the call's start."
)


class AlwaysJson(DefaultContentNegotiation):
    """JSON whatever the client's Accept header says: no 406 for a recorder's odd default."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return (first, first.media_type)


class CallPagination(CursorPagination):
    # Newest first; the id breaks ties between calls that started in the same microsecond.
    ordering = ("-started_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class IngestView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanIngest]
    parser_classes = [JsonParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJson
    serializer_class = CallSerializer

    def get_exception_handler(self) -> Any:
        return ingest_exception_handler

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> NoReturn:
        if request.auth is None:
            raise NotAuthenticated(MISSING_KEY_MESSAGE)
        super().permission_denied(request, message, code)

    def get_call(self, raw_id: str) -> Call:
        try:
            call_id = rules.guid(raw_id)
        except rules.Refused:
            raise NotFound(NOT_FOUND_MESSAGE) from None
        call = selectors.find_call(call_id, key_scope(_key(self.request)))
        if call is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        return call

    def represent(self, call: Call, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(CallSerializer(call).data, status=status_code)


# What a list request's access event keeps: its filters and page size, as given.
LIST_CRITERIA = ("number", "started_after", "started_before", "page_size")


def _key(request: Request) -> ApiKey:
    """The request's key: always an ApiKey here (ApiKeyAuthentication and CanIngest let no
    other in)."""
    key = request.auth
    if not isinstance(key, ApiKey):
        raise NotAuthenticated(MISSING_KEY_MESSAGE)
    return key


def _actor(request: Request) -> Actor:
    """For the access log: the key that reads calls back (a recorder, a connector)."""
    key = request.auth  # always an ApiKey here: ApiKeyAuthentication and CanIngest let no other in
    name = key.name if isinstance(key, ApiKey) else ""
    return Actor(surface=Surface.API, api_key=name, client=client_address(request))


class CallListView(IngestView):
    pagination_class = CallPagination

    @extend_schema(
        operation_id="calls_list",
        summary="List calls",
        parameters=[CallListQuerySerializer],
        responses=CallSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = CallListQuerySerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        calls = selectors.list_calls(scope=key_scope(_key(request)), **filters.validated_data)
        # EitherSide is not a QuerySet, but does all the cursor paginator asks of one.
        page = self.paginate_queryset(calls)  # type: ignore[arg-type]
        criteria = {
            name: request.query_params[name]
            for name in LIST_CRITERIA
            if name in request.query_params
        }
        record_access(
            Kind.SEARCH, _actor(request), detail={"criteria": criteria, "count": len(page or [])}
        )
        return self.get_paginated_response(CallSerializer(page, many=True).data)

    @extend_schema(
        operation_id="calls_upsert",
        summary="Create or update a call by id",
        description="Idempotent: the same body twice gives one call and the same answer. "
        "An update changes only the fields given. 201 when created, 200 when updated.",
        request=CallSerializer,
        responses={201: CallSerializer, 200: CallSerializer},
    )
    def post(self, request: Request) -> Response:
        data = request.data
        given_id = data.get("id") if isinstance(data, dict) else None
        scope = key_scope(_key(request))
        # A create must name every missing required field at once; an update of a stored
        # call may give only what changes. Which one it is decides the service, under lock.
        # A call outside the key's scope is not stored, for this key.
        partial = given_id is not None and _is_stored(given_id, scope)
        serializer = CallSerializer(data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        call_id = fields.pop("id", None)
        if call_id is not None and not partial and not scope.everything:
            raise ValidationError({"id": [CHOSEN_ID_MESSAGE]})
        try:
            result = services.upsert_call(call_id or uuid.uuid4(), fields, scope=scope)
        except services.OutsideScope:
            raise PermissionDenied(OUTSIDE_SCOPE_MESSAGE) from None
        return self.represent(
            result.call, status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class CallDetailView(IngestView):
    @extend_schema(operation_id="calls_read", summary="Read a call", responses=CallSerializer)
    def get(self, request: Request, call_id: str) -> Response:
        call = self.get_call(call_id)
        record_access(Kind.VIEW, _actor(request), call_id=call.pk)
        return self.represent(call)

    @extend_schema(
        operation_id="calls_update",
        summary="Change some fields of a call",
        description='Typically {"ended_at": "…"} when the call ends.',
        request=CallSerializer(partial=True),
        responses=CallSerializer,
    )
    def patch(self, request: Request, call_id: str) -> Response:
        call = self.get_call(call_id)
        serializer = CallSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if fields.pop("id", call.pk) != call.pk:
            raise ValidationError({"id": ["The id is given by the URL and cannot change."]})
        try:
            result = services.update_call(call, fields, scope=key_scope(_key(request)))
        except services.OutsideScope:
            raise PermissionDenied(OUTSIDE_SCOPE_MESSAGE) from None
        return self.represent(result.call)


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "Send the recording with a Content-Length header."
    default_code = "length_required"


class RecordingView(IngestView):
    # The body is the audio itself; it is streamed, never parsed.
    parser_classes: list = []

    @extend_schema(
        operation_id="calls_recording_upload",
        summary="Upload a call's recording",
        description="The raw audio as the body, with its Content-Type (one of the accepted "
        "audio types) and Content-Length; the body must start as that kind of audio. "
        "Replaces a previous recording. 201 when the call had none, 200 when replaced; 400 "
        "when empty or shorter than announced, 413 when too large, 415 for other types or "
        "content that is not the declared audio.",
        request={content_type: bytes for content_type in settings.RECORDING_CONTENT_TYPES},
        responses={
            201: CallSerializer,
            200: CallSerializer,
            400: OpenApiResponse(description="Empty, or shorter than its Content-Length."),
            411: OpenApiResponse(description="No Content-Length."),
            413: OpenApiResponse(description="Larger than the configured maximum."),
            415: OpenApiResponse(
                description="Not an accepted audio type, or not the audio it claims to be."
            ),
        },
    )
    def put(self, request: Request, call_id: str) -> Response:
        call = self.get_call(call_id)
        length = _content_length(request)
        # The body may take minutes to arrive from a recorder on a slow link (or never
        # arrive): no pooled connection waits with it. store_recording reads it whole, to
        # a temporary file, before its first query takes a connection again.
        give_back_connection()
        try:
            stored = services.store_recording(
                call, _ArrivingBody(request.stream), request.content_type, announced_size=length
            )
        except BodyStalled:
            raise RequestTimeout() from None
        except services.StorageRefused as refused:
            return Response(
                {"detail": refused.message},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(refused.RETRY_AFTER_SECONDS)},
            )
        except services.RecordingRejected as rejected:
            raise _REJECTIONS[rejected.problem](rejected.reason) from None
        except CallIsHeld:
            # Replacing the recording would delete the one under hold (docs/retention.md).
            return Response({"detail": HELD_MESSAGE}, status=status.HTTP_409_CONFLICT)
        except Call.DoesNotExist:
            raise NotFound(NOT_FOUND_MESSAGE) from None
        return self.represent(
            stored.call, status.HTTP_200_OK if stored.replaced else status.HTTP_201_CREATED
        )


class BodyStalled(Exception):
    """The request body stopped arriving (REQUEST_BODY_TIMEOUT_SECONDS) or broke off."""


class _ArrivingBody:
    """The request body, read as a stream; a read that fails is BodyStalled, so it is not
    taken for a storage failure (OSError too) further on."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._stream is None:
            return b""
        try:
            return self._stream.read(size)
        except OSError as error:  # TimeoutError, a reset connection, UnreadablePostError
            raise BodyStalled from error


class RequestTimeout(APIException):
    status_code = status.HTTP_408_REQUEST_TIMEOUT
    default_detail = (
        "The recording stopped arriving before its Content-Length was reached; nothing was "
        "stored. Send it again."
    )
    default_code = "request_timeout"


class UnsupportedRecording(APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"


class BadRecording(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_recording"


_REJECTIONS: dict[services.RecordingProblem, type[APIException]] = {
    services.RecordingProblem.UNSUPPORTED_TYPE: UnsupportedRecording,
    services.RecordingProblem.NOT_AUDIO: UnsupportedRecording,
    services.RecordingProblem.TOO_LARGE: PayloadTooLarge,
    services.RecordingProblem.EMPTY: BadRecording,
    services.RecordingProblem.INCOMPLETE: BadRecording,
}


def _is_stored(raw_id: Any, scope: Scope) -> bool:
    try:
        call_id = rules.guid(raw_id) if isinstance(raw_id, str) else None
    except rules.Refused:
        call_id = None
    # Not a GUID: the serializer names the bad id.
    return call_id is not None and selectors.call_exists(call_id, scope)


def _content_length(request: Request) -> int:
    raw = request.META.get("CONTENT_LENGTH", "")
    if not raw:
        raise LengthRequired()
    try:
        return int(raw)
    except ValueError:
        raise ParseError("Content-Length is not a number.") from None


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /api/v1/, with any method: JSON, not the site's HTML 404 page.

    Exempt from CSRF like the API's own views (which authenticate by key, not by cookie):
    without it a POST or PATCH to a mistyped path met the CSRF check first and got the
    site's HTML "Form expired" 403 instead of this answer."""
    return JsonResponse(
        {"detail": "No such endpoint. The API's paths have no trailing slash."}, status=404
    )
