"""AddMarker and GetMarkers (§7.7): named segments of a call, in milliseconds."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from access_log.models import Kind
from calls.markers import MarkerRefused, Mode, add_marker, check_name, markers_of
from calls.models import Call, Marker
from verba.actions import Action, Context, register
from verba.actions.access import changing, record_read
from verba.actions.lookup import BY_ID, BY_ID_OR_EXTENSION, find_call, names_a_call
from verba.actions.retention import _ChangeAction
from verba.answers import Answer
from verba.call_records import marker_list
from verba.codes import call_not_found, invalid
from verba.forms import ActionForm, Field
from verba.params import Params

NAME_MISSING = "The mname parameter is missing."
MODE_MALFORMED = "The mmode parameter must be start, end or segment."
MODE_MISSING = "Give mmode (start or end), or mstart and mend for a segment."
SECONDS_MALFORMED = "The {name} parameter must be seconds from the call's start, e.g. 16.7."
SEGMENT_ONLY = "The mstart and mend parameters belong to mmode=segment."
SEGMENT_INCOMPLETE = "A segment needs both mstart and mend."
ADDING = "add the marker"

# Plain decimal seconds: no sign, exponent, "nan" or non-ASCII digits; 12 digits before the
# point are far beyond any call, and keep the number small.
_SECONDS = re.compile(r"\d{1,12}(\.\d{1,12})?", re.ASCII)
_MILLISECOND = Decimal("0.001")


def seconds_to_ms(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if _SECONDS.fullmatch(text) is None:
        raise invalid(SECONDS_MALFORMED.format(name=name))
    # Rounded to the nearest millisecond, halves away from zero.
    return int(Decimal(text).quantize(_MILLISECOND, rounding=ROUND_HALF_UP) * 1000)


def parse_marker(params: Params) -> tuple[str, Mode, int | None, int | None]:
    """(name, mode, start_ms, end_ms) of an AddMarker request; ApiError 1 when malformed."""
    name = params.get("mname")
    if name is None:
        raise invalid(NAME_MISSING)
    try:
        check_name(name)
    except MarkerRefused as refused:
        raise invalid(refused.message) from None
    start, end = seconds_to_ms(params, "mstart"), seconds_to_ms(params, "mend")
    raw_mode = params.get("mmode")
    if raw_mode is None:
        if start is None or end is None:
            raise invalid(MODE_MISSING)
        return name, Mode.SEGMENT, start, end
    try:
        mode = Mode(raw_mode.strip().lower())
    except ValueError:
        raise invalid(MODE_MALFORMED) from None
    if mode is Mode.SEGMENT:
        if start is None or end is None:
            raise invalid(SEGMENT_INCOMPLETE)
    elif start is not None or end is not None:
        raise invalid(SEGMENT_ONLY)
    return name, mode, start, end


def describe(marker: Marker, mode: Mode) -> str:
    if mode is Mode.START:
        return f"marker {marker.name} opened at {marker.start_ms} ms"
    verb = "closed" if mode is Mode.END else "added"
    return f"marker {marker.name} {verb}: {marker.start_ms}–{marker.end_ms} ms"


# A marker is read from its four parameters together (each one's meaning depends on mmode).
MARKER_NAMES = ("mname", "mmode", "mstart", "mend")


class AddMarkerForm(ActionForm):
    marker = Field(MARKER_NAMES, parse_marker)
    call = names_a_call(BY_ID_OR_EXTENSION)


class GetMarkersForm(ActionForm):
    call = names_a_call(BY_ID)


@register
class AddMarker(_ChangeAction):
    name = "AddMarker"
    form = AddMarkerForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(AddMarkerForm)
        name, mode, start, end = form.marker
        call = find_call(
            form.call,
            arrived_at=context.arrived_at,
            doing=ADDING,
            scope=context.scope,
        )
        try:
            with changing(context, Kind.CHANGE, self.name, call.pk) as detail:
                marker = add_marker(call.pk, name, mode, start_ms=start, end_ms=end)
                detail["change"] = describe(marker, mode)
        except MarkerRefused as refused:
            raise invalid(refused.message) from None
        except Call.DoesNotExist:
            raise call_not_found(ADDING) from None
        context.change = describe(marker, mode)
        return Answer(type=self.name, call_id=call.pk)


@register
class GetMarkers(Action):
    """The call's closed markers, ordered by start, then name; named by callID (aliases)."""

    name = "GetMarkers"
    form = GetMarkersForm

    def run(self, context: Context) -> Answer:
        call = find_call(
            context.form_as(GetMarkersForm).call,
            arrived_at=context.arrived_at,
            doing="retrieve the markers",
            scope=context.scope,
        )
        markers = markers_of(call)
        record_read(context, Kind.VIEW, self.name, call.pk)
        return Answer(type=self.name, records=marker_list(markers), call_id=call.pk)
