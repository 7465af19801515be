"""The call lookup shared by GetCallURL and its sibling actions: `callID`, or
`extension` + `status`."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from calls.longpoll import TooManyWaiting
from calls.models import NUMBER_MAX_LENGTH, Call
from calls.selectors import Status, call_by_id, calls_by_status
from calls.text import has_control_character, parse_guid
from verba.codes import ApiError, Code, Message, invalid
from verba.params import Params

logger = logging.getLogger(__name__)

CALL_ID_MALFORMED = "The callID parameter must be a call GUID."
NOTHING_TO_FIND = "Give either callID, or extension and status."
EXTENSION_MALFORMED = (
    f"The extension parameter must be 1 to {NUMBER_MAX_LENGTH} characters, "
    "without control characters."
)
STATUS_MISSING = "The status parameter is required with extension."
STATUS_MALFORMED = (
    "The status parameter must be a comma-separated list of ongoing, next and last, "
    "each at most once."
)


def parse_call_id(raw: str) -> uuid.UUID:
    # The canonical 8-4-4-4-12 form only (any letter case), as Verba prints call IDs; the
    # spaces a copy and paste brings along are forgiven.
    call_id = parse_guid(raw.strip())
    if call_id is None:
        raise invalid(CALL_ID_MALFORMED)
    return call_id


def parse_statuses(raw: str) -> list[Status]:
    statuses: list[Status] = []
    for part in raw.split(","):
        try:
            status = Status(part.strip().lower())
        except ValueError:
            raise invalid(STATUS_MALFORMED) from None
        if status in statuses:
            raise invalid(STATUS_MALFORMED)
        statuses.append(status)
    return statuses


def lookup_call(params: Params, *, arrived_at: datetime, not_found: str, ambiguous: str) -> Call:
    """The one call the parameters point to; ApiError 1 (bad parameters), 2 or 3 otherwise."""
    raw_call_id = params.get("callID")
    if raw_call_id is not None:
        # With callID, extension and status are ignored.
        call = call_by_id(parse_call_id(raw_call_id))
        if call is None:
            raise ApiError(Code.NOT_FOUND, not_found)
        return call

    raw_extension = params.get("extension")
    if raw_extension is None:
        raise invalid(NOTHING_TO_FIND)
    number = raw_extension.strip()
    # No number holds a control character, and PostgreSQL could not even compare one
    # holding NUL: malformed, not merely unknown.
    if not 1 <= len(number) <= NUMBER_MAX_LENGTH or has_control_character(number):
        raise invalid(EXTENSION_MALFORMED)
    raw_status = params.get("status")
    if raw_status is None:
        raise invalid(STATUS_MISSING)
    statuses = parse_statuses(raw_status)

    try:
        found = calls_by_status(number, statuses, arrived_at=arrived_at)
    except TooManyWaiting:
        # This server holds as many `next` waiters as it may; another will be free soon.
        logger.warning("Business API answered 9: too many status=next requests waiting")
        raise ApiError(
            Code.UNAVAILABLE, Message.UNAVAILABLE, headers={"Retry-After": "1"}
        ) from None
    if not found:
        raise ApiError(Code.NOT_FOUND, not_found)
    if len(found) > 1:
        raise ApiError(Code.AMBIGUOUS, ambiguous)
    return found[0]
