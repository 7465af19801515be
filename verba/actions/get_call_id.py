"""GetCallID (§7.1): the GUID of the call named by extension+status, platformCallID or
nativeID."""

from access_log.models import Kind
from verba.actions import Action, Context, register
from verba.actions.access import record_read
from verba.actions.lookup import CallNaming, NamingForm, find_call, names_a_call
from verba.answers import Answer, Value
from verba.forms import ActionForm

# GetCallID is how a client learns the GUID, so callID itself does not name a call here.
NAMING = CallNaming(
    NamingForm.PLATFORM_CALL_ID | NamingForm.NATIVE_ID | NamingForm.EXTENSION_STATUS
)


class GetCallIDForm(ActionForm):
    call = names_a_call(NAMING)


@register
class GetCallID(Action):
    name = "GetCallID"
    form = GetCallIDForm

    def run(self, context: Context) -> Answer:
        call = find_call(
            context.form_as(GetCallIDForm).call,
            arrived_at=context.arrived_at,
            doing="retrieve the call identifier",
            scope=context.scope,
            owner=context.owner,
        )
        record_read(context, Kind.VIEW, self.name, call.pk)
        return Answer(
            type=self.name, values=(Value("CallID", "callID", str(call.pk)),), call_id=call.pk
        )
