"""Every error of the ingestion API as JSON: never Django's HTML error page."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)

TOO_LARGE_MESSAGE = "The request body is larger than {limit} bytes."
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; nothing was changed. Retry later."
INTERNAL_MESSAGE = "Internal error; nothing was changed."


def ingest_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, plus: model validation → 400, a body Django refuses to read → 413 (too
    large) or 400, database down → 503, anything else → 500.

    Bodies are {"detail": "…"} or, for 400s, {"<field>": ["…"], …}.
    """
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": TOO_LARGE_MESSAGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, BadRequest | SuspiciousOperation):
        # An undecodable charset (callportal/charsets.py), too many fields...: the message
        # is Django's or ours, never the request's content.
        exc = ParseError(str(exc))
    response = exception_handler(exc, context)
    if response is not None:
        return response
    set_rollback()
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("Database unavailable during an ingestion request: %s", exc)
        return Response(
            {"detail": UNAVAILABLE_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("Database error during an ingestion request")
    else:
        logger.exception("Unexpected error during an ingestion request")
    return Response({"detail": INTERNAL_MESSAGE}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
