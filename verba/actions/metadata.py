"""AttachMetaData: set the custom metadata fields administrators defined, all or nothing."""

from __future__ import annotations

from calls.metadata import MetadataRefused, attach_metadata, check_values
from calls.models import RESERVED_IDENTIFIERS, Call
from verba.actions import Context, register
from verba.actions.lookup import BY_ID_OR_EXTENSION, find_call
from verba.actions.retention import _ChangeAction
from verba.answers import Answer
from verba.codes import call_not_found, invalid
from verba.params import Params

NO_FIELD = "Give at least one metadata field to set, as IDENTIFIER=value."
ATTACHING = "attach the metadata"


def given_fields(params: Params) -> dict[str, str]:
    """Every parameter that is not a Business API parameter, as identifier → value (empty
    values kept: they clear the field). The body's value wins over the URL's."""
    values: dict[str, str] = {}
    for place in (params.query, params.body):
        for name, value in place.items():
            if name.lower() not in RESERVED_IDENTIFIERS:
                values[name] = value
    return values


@register
class AttachMetaData(_ChangeAction):
    name = "AttachMetaData"

    def run(self, context: Context) -> Answer:
        values = given_fields(context.params)
        if not values:
            raise invalid(NO_FIELD)
        try:
            check_values(values)
            call = find_call(
                context.params,
                BY_ID_OR_EXTENSION,
                arrived_at=context.arrived_at,
                doing=ATTACHING,
            )
            result = attach_metadata(call.pk, values)
        except MetadataRefused as refused:
            raise invalid(refused.message) from None
        except Call.DoesNotExist:
            raise call_not_found(ATTACHING) from None
        context.change = result.describe()
        return Answer(type=self.name, call_id=call.pk)
