"""KeepCall and DeleteCall: keep a call for good, or delete it with its recording."""

from __future__ import annotations

from access_log.models import Kind
from calls.deletion import CallIsHeld, CallIsKept, Deletion, delete_call, set_keep
from calls.models import Call
from retention.services import HELD_MESSAGE
from verba.actions import Action, Context, KeyPermission, register
from verba.actions.access import changing
from verba.actions.lookup import BY_ANY, BY_ID_OR_EXTENSION, CallNaming, find_call, names_a_call
from verba.answers import Answer
from verba.codes import ApiError, Code, call_not_found, invalid
from verba.forms import ActionForm, field
from verba.params import Params

UNMARK_MALFORMED = "The unmark parameter must be 1 (clear the mark) or 0."
KEPT = "The call is kept and cannot be deleted."
KEEPING = "keep the call"
DELETING = "delete the call"

# DeleteCall names a call any way but never waits for the next one.
_DELETE_NAMING = CallNaming(BY_ANY.forms, allow_next=False)


class _ChangeAction(Action):
    """An action that changes calls: the key's "change calls" permission, and a token's
    user's calls.change_call."""

    key_permissions = frozenset({KeyPermission.CHANGE})
    user_permissions = ("calls.change_call",)


def read_unmark(params: Params, name: str) -> bool:
    """Whether `unmark=1` asks to clear the mark (`0` or nothing: keep)."""
    unmark = params.get(name)
    if unmark not in (None, "0", "1"):
        raise invalid(UNMARK_MALFORMED)
    return unmark == "1"


class KeepCallForm(ActionForm):
    unmark = field("unmark", read_unmark)
    call = names_a_call(BY_ID_OR_EXTENSION)


class DeleteCallForm(ActionForm):
    call = names_a_call(_DELETE_NAMING)


@register
class KeepCall(_ChangeAction):
    name = "KeepCall"
    form = KeepCallForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(KeepCallForm)
        keep = not form.unmark
        call = find_call(
            form.call,
            arrived_at=context.arrived_at,
            doing=KEEPING,
            scope=context.scope,
        )
        context.change = "kept" if keep else "keep mark cleared"
        try:
            with changing(context, Kind.CHANGE, self.name, call.pk) as detail:
                set_keep(call.pk, keep)
                detail["change"] = context.change
        except Call.DoesNotExist:
            # Deleted between the lookup and the change.
            raise call_not_found(KEEPING) from None
        return Answer(type=self.name, call_id=call.pk)


@register
class DeleteCall(_ChangeAction):
    name = "DeleteCall"
    form = DeleteCallForm
    user_permissions = ("calls.delete_call",)

    def run(self, context: Context) -> Answer:
        call = find_call(
            context.form_as(DeleteCallForm).call,
            arrived_at=context.arrived_at,
            doing=DELETING,
            scope=context.scope,
        )
        try:
            with changing(context, Kind.DELETE, self.name, call.pk) as detail:
                outcome = delete_call(call.pk, by=_who(context))
                context.change = (
                    "deleted"
                    if outcome is Deletion.DELETED
                    else "marked: deleted when the call ends"
                )
                detail["change"] = context.change
        except CallIsKept:
            raise ApiError(Code.ACCESS_DENIED, KEPT) from None
        except CallIsHeld:
            raise ApiError(Code.ACCESS_DENIED, HELD_MESSAGE) from None
        except Call.DoesNotExist:
            raise call_not_found(DELETING) from None
        return Answer(type=self.name, call_id=call.pk)


def _who(context: Context) -> str:
    """Who asked, for the deletion ledger: the token's user, else the key."""
    if context.session is not None:
        return context.session.user.get_username()
    return context.api_key.name
