"""GetCallURL: "Retrieves the full HTTP URL pointing to the given call." """

from calls.links import call_url
from verba.actions import Action, Context, register
from verba.actions.lookup import lookup_call
from verba.answers import Answer, Value


@register
class GetCallURL(Action):
    name = "GetCallURL"

    def run(self, context: Context) -> Answer:
        call = lookup_call(
            context.params,
            arrived_at=context.arrived_at,
            # Verba's own wording.
            not_found="Unable to retrieve the call URL, because the call cannot be found.",
            ambiguous="Unable to retrieve the call URL, because more than one call matches.",
        )
        url = call_url(context.request, call.pk)
        return Answer(
            type=self.name, values=(Value("CallURL", "callURL", url, link=True),), call_id=call.pk
        )
