"""AttachMetaData: set the custom metadata fields administrators defined, all or nothing."""

from __future__ import annotations

from calls.metadata import MetadataRefused, attach_metadata, check_values
from calls.models import RESERVED_IDENTIFIERS, Call
from verba.actions import Context, register
from verba.actions.lookup import BY_ID_OR_EXTENSION, find_call
from verba.actions.retention import _ChangeAction
from verba.answers import Answer
from verba.codes import ApiError, Code, invalid
from verba.params import Params

NO_FIELD = "Give at least one metadata field to set, as IDENTIFIER=value."
NOT_FOUND = "Unable to attach the metadata, because the call cannot be found."


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
                not_found=NOT_FOUND,
                ambiguous="Unable to attach the metadata, because more than one call matches.",
            )
            result = attach_metadata(call.pk, values)
        except MetadataRefused as refused:
            raise invalid(refused.message) from None
        except Call.DoesNotExist:
            raise ApiError(Code.NOT_FOUND, NOT_FOUND) from None
        context.change = result.describe()
        return Answer(type=self.name, call_id=call.pk)
