"""PutMedia (§7.12): a call and its recording in one request, POST only.

The call's data travels in the query string (Verba's parameter names, lower case), the
recording as the first file part of a multipart/form-data body. The same `nativeid` with the
same `starttime` again updates that call instead of adding one.

Scopes (access.md §2): a writer whose scope is narrowed (a token's user, a key limited to
groups) matches only calls in its scope, so a call outside it is no match, as if it did not
exist; and it creates or updates only calls that are in its scope afterwards (code 6
otherwise: it may not write calls it could not see). docs/access.md says why.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from calls import rules
from calls.deletion import CallIsHeld
from calls.models import Call
from calls.selectors import call_by_id, call_in_scope, calls_by_native_id_and_start
from calls.services import (
    CallExists,
    OutsideScope,
    PutRecording,
    RecordingRejected,
    StorageRefused,
    add_call_with_recording,
    update_call_with_recording,
)
from directory.scopes import Scope
from retention.services import HELD_MESSAGE
from verba.actions import Action, Context, KeyPermission, register
from verba.answers import Answer, Value
from verba.auth import check_user_permission
from verba.call_records import DIRECTION_IDS
from verba.codes import ApiError, Code, invalid
from verba.forms import ActionForm, Field
from verba.params import Params, time_span

NO_FILE = (
    "Send the recording as a file part of a multipart/form-data body "
    "(the call's data in the query string)."
)
NUMBER_NEEDED = "The {name} parameter is required when the call is created."
AMBIGUOUS = "Unable to store the media, because more than one call has this nativeid and starttime."
GONE = "Unable to store the media, because the call was deleted meanwhile."
OUTSIDE_SCOPE = (
    "Access denied: this API key and user may store media only of calls they may see "
    "(a number of the call owned by them, or by their groups' members, at its start)."
)

# Verba's direction (§7.0 direction_id) → the call's direction.
DIRECTIONS = {str(number): direction for direction, number in DIRECTION_IDS.items()}
# PutMedia parameter → call field, for the optional text parameters.
_NUMBERS = {"srccallerid": "caller_number", "dstcallerid": "called_number"}
_NAMES = {"srcname": "caller_name", "dstname": "called_name"}

# Ids of calls PutMedia creates with a nativeid: the same nativeid and starttime always give
# the same id, so that two concurrent uploads of one new call create it once.
_ID_NAMESPACE = uuid.UUID("5b0f6f5e-3c1a-4f0e-9a51-2d7f0c9b8e41")


def call_id_for(native_id: str, started_at: datetime, writer: str = "") -> uuid.UUID:
    """The id of the call PutMedia creates for this nativeid and start. `writer` names a
    writer whose scope is narrowed: its calls get ids of their own, so that an id taken by a
    call outside its scope never shows (by a different id in the answer) that the call
    exists."""
    name = f"{native_id}\n{started_at.astimezone(UTC).isoformat()}"
    return uuid.uuid5(_ID_NAMESPACE, f"{name}\n{writer}" if writer else name)


# The call's data, in Verba's parameter names, read together (the end is checked against the
# start). `location` is Verba's too: taken and ignored, as the call has no field for it.
CALL_NAMES = (
    "starttime",
    "endtime",
    "nativeid",
    "srccallerid",
    "srcname",
    "dstcallerid",
    "dstname",
    "direction",
    "donotdelete",
)


class PutMediaForm(ActionForm):
    call = Field(CALL_NAMES, lambda params: call_fields(params))
    location = Field(("location",), lambda params: None)


@register
class PutMedia(Action):
    name = "PutMedia"
    form = PutMediaForm
    methods = frozenset({"POST"})
    # Uploading calls is the ingest permission (the ingestion API's), not "change calls".
    key_permissions = frozenset({KeyPermission.INGEST})
    # A token's user needs calls.add_call; an update also calls.change_call (checked once
    # the request is known to be one).
    user_permissions = ("calls.add_call",)

    def run(self, context: Context) -> Answer:
        started_at, fields = context.form_as(PutMediaForm).call
        native_id = fields.get("native_id", "")
        upload = first_file(context)
        existing = _existing(native_id, started_at, context.scope)
        try:
            if existing is None:
                put = self._create(context, native_id, started_at, fields, upload)
            else:
                put = self._update(context, existing, fields, upload)
        except RecordingRejected as rejected:
            raise invalid(rejected.reason) from None
        except CallIsHeld:
            # As DeleteCall on a held call: replacing the recording would delete the old one.
            raise ApiError(Code.ACCESS_DENIED, HELD_MESSAGE) from None
        except StorageRefused as refused:
            raise ApiError(
                Code.UNAVAILABLE,
                refused.message,
                headers={"Retry-After": str(refused.RETRY_AFTER_SECONDS)},
            ) from None
        except ValidationError as error:
            raise invalid(_first_message(error)) from None
        except OutsideScope:
            raise ApiError(Code.ACCESS_DENIED, OUTSIDE_SCOPE) from None
        verb = "created" if put.created else "updated"
        stored = "stored" if not put.recording.replaced else "replaced"
        context.change = (
            f"call {verb}: {', '.join(fields)}; "
            f"recording {stored} ({put.recording.content_type}, {put.recording.size} bytes)"
        )
        return Answer(
            type=self.name,
            values=(Value("CallID", "callID", str(put.call.pk)),),
            call_id=put.call.pk,
        )

    def _create(
        self,
        context: Context,
        native_id: str,
        started_at: datetime,
        fields: dict[str, Any],
        upload: UploadedFile,
    ) -> PutRecording:
        for parameter, field in _NUMBERS.items():
            if field not in fields:
                raise invalid(NUMBER_NEEDED.format(name=parameter))
        call_id = (
            call_id_for(native_id, started_at, _writer(context)) if native_id else uuid.uuid4()
        )
        taken = call_by_id(call_id) if native_id else None
        if taken is not None:
            if (taken.native_id, taken.started_at) == (native_id, started_at) and call_in_scope(
                taken.pk, context.scope
            ):
                # A concurrent upload of this call committed since the lookup above.
                return self._update(context, taken, fields, upload)
            # The call this nativeid and start once created has since been given others.
            call_id = uuid.uuid4()
        try:
            return add_call_with_recording(
                call_id,
                fields,
                upload,
                upload.content_type or "",
                announced_size=upload.size,
                scope=context.scope,
            )
        except CallExists:
            # A concurrent upload of the same call created it first: this one updates it.
            call = call_by_id(call_id)
            if call is None:
                raise ApiError(Code.NOT_FOUND, GONE) from None
            return self._update(context, call, fields, upload)

    def _update(
        self, context: Context, call: Call, fields: dict[str, Any], upload: UploadedFile
    ) -> PutRecording:
        if context.session is not None:
            check_user_permission(context.session, ("calls.change_call",))
        try:
            return update_call_with_recording(
                call,
                fields,
                upload,
                upload.content_type or "",
                announced_size=upload.size,
                scope=context.scope,
            )
        except Call.DoesNotExist:
            raise ApiError(Code.NOT_FOUND, GONE) from None


def call_fields(params: Params) -> tuple[datetime, dict[str, Any]]:
    """(start, the call fields the request gives); ApiError 1 naming the first bad parameter."""
    started_at = time_span(params, "starttime")[0]
    ended_at = time_span(params, "endtime")[0]
    try:
        rules.check_span(started_at, ended_at)
    except rules.EndBeforeStart as refused:
        raise invalid(refused.message) from None
    fields: dict[str, Any] = {"started_at": started_at, "ended_at": ended_at}
    native_id = params.get("nativeid")
    if native_id is not None:
        fields["native_id"] = _by_rule(rules.IDENTIFIER, "nativeid", native_id)
    for parameter, field in _NUMBERS.items():
        number = params.get(parameter)
        # Only white space counts as not given, as an empty value does.
        if number is not None and number.strip():
            fields[field] = _by_rule(rules.NUMBER, parameter, number)
    for parameter, field in _NAMES.items():
        name = params.get(parameter)
        if name is not None:
            fields[field] = _by_rule(rules.NAME, parameter, name)
    direction = params.get("direction")
    if direction is not None:
        if direction.strip() not in DIRECTIONS:
            raise invalid(
                "The direction parameter must be 0 (internal), 1 (inbound) or 2 (outbound)."
            )
        fields["direction"] = DIRECTIONS[direction.strip()]
    keep = params.get("donotdelete")
    if keep is not None:
        if keep.strip() not in ("0", "1"):
            raise invalid("The donotdelete parameter must be 1 (keep the call) or 0.")
        fields["keep"] = keep.strip() == "1"
    return started_at, fields


def _by_rule(rule: rules.TextRule, name: str, raw: str) -> str:
    try:
        return rule.clean(raw)
    except rules.Refused as refused:
        raise invalid(refused.sentence(f"The {name} parameter")) from None


def first_file(context: Context) -> UploadedFile:
    """The first file part of the body, whatever its field name (§7.13)."""
    for _, files in context.request.FILES.lists():
        if files:
            return files[0]
    raise invalid(NO_FILE)


def _writer(context: Context) -> str:
    """Who writes, for `call_id_for`: empty when the writer sees every call."""
    if context.scope.everything:
        return ""
    user = context.session.user_id if context.session is not None else ""
    return f"key {context.api_key.pk} user {user}"


def _existing(native_id: str, started_at: datetime, scope: Scope) -> Call | None:
    """The call an earlier PutMedia of this nativeid and start stored, if any, in `scope`:
    one outside it is no match."""
    if not native_id:
        return None
    found = calls_by_native_id_and_start(native_id, started_at, scope)
    if len(found) > 1:
        raise ApiError(Code.AMBIGUOUS, AMBIGUOUS)
    return found[0] if found else None


def _first_message(error: ValidationError) -> str:
    # The checks above leave only the model's own rules (an end before the start).
    messages = error.messages
    return messages[0] if messages else "The call's data is not valid."
