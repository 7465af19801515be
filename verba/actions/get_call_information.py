"""GetCallInformation (§7.2): the `<verbacdr>` record of the call named in any way of §7.0."""

from django.utils import timezone

from access_log.models import Kind
from calls.metadata import metadata_by_call
from verba.actions import Action, Context, register
from verba.actions.access import record_read
from verba.actions.lookup import BY_ANY, find_call, names_a_call
from verba.actions.options import return_metadata
from verba.answers import Answer
from verba.call_records import one_call
from verba.forms import ActionForm


class GetCallInformationForm(ActionForm):
    return_metadata = return_metadata()
    call = names_a_call(BY_ANY)


@register
class GetCallInformation(Action):
    name = "GetCallInformation"
    form = GetCallInformationForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(GetCallInformationForm)
        with_metadata = form.return_metadata
        call = find_call(
            form.call,
            arrived_at=context.arrived_at,
            doing="retrieve the call information",
            scope=context.scope,
            owner=context.owner,
        )
        metadata = metadata_by_call([call.pk]).get(call.pk, {}) if with_metadata else None
        record_read(context, Kind.VIEW, self.name, call.pk)
        return Answer(
            type=self.name,
            records=one_call(call, now=timezone.now(), metadata=metadata, zone=context.zone),
            call_id=call.pk,
        )
