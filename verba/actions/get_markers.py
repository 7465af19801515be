"""GetMarkers: a call's closed markers, in milliseconds, as Verba's `<verbamarker>` records."""

from __future__ import annotations

from calls.markers import markers_of
from calls.models import Marker
from verba.actions import Action, Context, register
from verba.actions.lookup import BY_ID, find_call
from verba.answers import Answer, Item, Record, Records


def marker_records(markers: list[Marker]) -> Records:
    """GetMarkers' answer: one `<verbamarker>` line each, JSON `"markers"`, TEXT rows of
    name, start and end (milliseconds)."""
    return Records(
        records=tuple(
            Record(
                tag="verbamarker",
                items=(
                    Item("name", marker.name),
                    Item("start", marker.start_ms),
                    Item("end", marker.end_ms),
                ),
                inline=True,
            )
            for marker in markers
        ),
        json_name="markers",
        text_columns=("name", "start", "end"),
    )


@register
class GetMarkers(Action):
    name = "GetMarkers"

    def run(self, context: Context) -> Answer:
        call = find_call(
            context.params,
            BY_ID,
            arrived_at=context.arrived_at,
            not_found="Unable to retrieve the markers, because the call cannot be found.",
            ambiguous="Unable to retrieve the markers, because more than one call matches.",
        )
        return Answer(type=self.name, records=marker_records(markers_of(call)), call_id=call.pk)
