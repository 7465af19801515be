"""AttachMetaData: set the custom metadata fields administrators defined, all or nothing."""

from __future__ import annotations

from access_log.models import Kind
from calls.metadata import MetadataRefused, attach_metadata, check_values
from calls.models import Call
from verba.actions import Context, register, reserved_names
from verba.actions.access import changing
from verba.actions.lookup import BY_ID_OR_EXTENSION, find_call, names_a_call
from verba.actions.retention import _ChangeAction
from verba.answers import Answer
from verba.codes import call_not_found, invalid
from verba.forms import ActionForm, Field
from verba.params import Params

NO_FIELD = "Give at least one metadata field to set, as IDENTIFIER=value."
ATTACHING = "attach the metadata"


def given_fields(params: Params) -> dict[str, str]:
    """Every parameter that is not a Business API parameter, as identifier → value (empty
    values kept: they clear the field). The body's value wins over the URL's."""
    reserved = reserved_names()
    values: dict[str, str] = {}
    for place in (params.query, params.body):
        for name in place:
            if name.lower() not in reserved:
                values[name] = place.get(name, "")
    return values


class AttachMetaDataForm(ActionForm):
    # Every parameter that is no parameter name of the API (so it declares none).
    fields = Field((), given_fields)
    call = names_a_call(BY_ID_OR_EXTENSION)


@register
class AttachMetaData(_ChangeAction):
    name = "AttachMetaData"
    form = AttachMetaDataForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(AttachMetaDataForm)
        values = form.fields
        if not values:
            raise invalid(NO_FIELD)
        try:
            check_values(values)
            call = find_call(
                form.call,
                arrived_at=context.arrived_at,
                doing=ATTACHING,
                scope=context.scope,
            )
            with changing(context, Kind.CHANGE, self.name, call.pk) as detail:
                result = attach_metadata(call.pk, values)
                detail["change"] = result.describe()
        except MetadataRefused as refused:
            raise invalid(refused.message) from None
        except Call.DoesNotExist:
            raise call_not_found(ATTACHING) from None
        context.change = result.describe()
        return Answer(type=self.name, call_id=call.pk)
