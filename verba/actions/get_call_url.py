"""GetCallURL: "Retrieves the full HTTP URL pointing to the given call." """

from datetime import datetime
from typing import Any

from calls.links import call_url
from directory.scopes import StatementOwner
from shared.sql import Read
from verba.actions import Action, Context, register
from verba.actions.lookup import GET_CALL_URL, find_call, first_read, names_a_call
from verba.answers import Answer, Value
from verba.forms import ActionForm


class GetCallURLForm(ActionForm):
    call = names_a_call(GET_CALL_URL)


@register
class GetCallURL(Action):
    name = "GetCallURL"
    form = GetCallURLForm

    def run(self, context: Context) -> Answer:
        call = find_call(
            context.form_as(GetCallURLForm).call,
            arrived_at=context.arrived_at,
            doing="retrieve the call URL",
            reader=context.reader,
            scope=context.scope,
            owner=context.owner,
        )
        url = call_url(context.request, call.pk)
        return Answer(
            type=self.name, values=(Value("CallURL", "callURL", url, link=True),), call_id=call.pk
        )

    def first_read(
        self, form: ActionForm, arrived_at: datetime, owner: StatementOwner | None
    ) -> Read[Any] | None:
        return first_read(form, GetCallURLForm.call, arrived_at=arrived_at, owner=owner)
