"""GetCallURL: "Retrieves the full HTTP URL pointing to the given call." """

from datetime import datetime
from typing import Any

from calls.links import call_url
from shared.sql import Read
from verba.actions import Action, Context, register
from verba.actions.lookup import GET_CALL_URL, first_read, lookup_call
from verba.answers import Answer, Value
from verba.params import Params


@register
class GetCallURL(Action):
    name = "GetCallURL"

    def run(self, context: Context) -> Answer:
        call = lookup_call(
            context.params,
            arrived_at=context.arrived_at,
            doing="retrieve the call URL",
            reader=context.reader,
        )
        url = call_url(context.request, call.pk)
        return Answer(
            type=self.name, values=(Value("CallURL", "callURL", url, link=True),), call_id=call.pk
        )

    def first_read(self, params: Params, arrived_at: datetime) -> Read[Any] | None:
        return first_read(params, GET_CALL_URL, arrived_at=arrived_at)
