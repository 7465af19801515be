"""Naming a call: the lookup every call action shares (contract §5, §7.0 and §7.13).

A request names one call in one of four ways, tried in this precedence:

1. ``callID`` — the call's GUID. ``ccdr_id`` and ``cid`` are the same parameter under the
   names Verba used in other releases; giving two of them is code 1.
2. ``platformCallID`` — exact, case-sensitive match of the PBX's call id.
3. ``nativeID`` — exact, case-sensitive match of the recorder's id.
4. ``extension`` + ``status`` — GetCallURL's lookup (§5): ``ongoing``, ``next``, ``last``.

The first form the request gives *and the action accepts* decides; the others are ignored,
even when malformed. A form the action does not accept is ignored too, so a request may end
up naming nothing (code 1). Not found is code 2; more than one match is code 3.

How an action uses it: its form declares the field, its handler finds the call::

    from verba.actions.lookup import CallNaming, NamingForm, find_call, names_a_call

    class KeepCallForm(ActionForm):
        call = names_a_call(CallNaming(NamingForm.CALL_ID | NamingForm.EXTENSION_STATUS))

    call = find_call(
        context.form_as(KeepCallForm).call,  # code 1 here when nothing names a call
        arrived_at=context.arrived_at,
        doing="keep the call",  # code 2 "Unable to keep the call, because …"
    )

Ready-made namings: ``BY_ANY`` (all four forms, `next` allowed), ``BY_ID`` (callID and its
aliases only), ``BY_ID_OR_EXTENSION`` (callID or extension+status), ``GET_CALL_URL``
(§5: ``callID`` without aliases, or extension+status). Media actions and DeleteCall pass
``allow_next=False`` (a `next` status is then code 1). Every error is an ``ApiError``; the
view renders it in the requested format.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Flag, auto
from functools import partial
from typing import Any

from calls import rules
from calls.models import Call
from calls.selectors import (
    Status,
    call_by_id_in_scope,
    call_by_id_read,
    calls_by_native_id,
    calls_by_platform_call_id,
    calls_by_status,
    first_status_read,
)
from directory.scopes import Scope, StatementOwner
from longpoll.watcher import TooManyWaiting, wait_for_next
from shared.sql import Read, Reader
from verba.codes import ApiError, Code, Message, ambiguous_calls, call_not_found, invalid
from verba.forms import ActionForm, Field
from verba.params import Params

logger = logging.getLogger(__name__)

CALL_ID_NAMES = ("callID", "ccdr_id", "cid")

CALL_ID_MALFORMED = "The {name} parameter must be a call GUID."
CALL_ID_TWICE = "Give the call's ID once, as one of callID, ccdr_id or cid."
NOTHING_TO_FIND = "Give either callID, or extension and status."
STATUS_MISSING = "The status parameter is required with extension."
STATUS_MALFORMED = (
    "The status parameter must be a comma-separated list of ongoing, next and last, "
    "each at most once."
)
STATUS_NO_NEXT = (
    "The status parameter must be a comma-separated list of ongoing and last here: "
    "this action does not wait for the next call."
)


class NamingForm(Flag):
    """The ways a request may name a call, combinable: ``CALL_ID | EXTENSION_STATUS``."""

    CALL_ID = auto()  # callID, ccdr_id or cid
    PLATFORM_CALL_ID = auto()
    NATIVE_ID = auto()
    EXTENSION_STATUS = auto()


# How each form is named in "nothing names a call" messages, in precedence order.
_FORM_WORDS = (
    (NamingForm.CALL_ID, "callID (or ccdr_id or cid)"),
    (NamingForm.PLATFORM_CALL_ID, "platformCallID"),
    (NamingForm.NATIVE_ID, "nativeID"),
    (NamingForm.EXTENSION_STATUS, "extension and status"),
)


@dataclass(frozen=True)
class CallNaming:
    """Which ways of naming a call an action accepts, and whether `status` may be `next`."""

    forms: NamingForm
    allow_next: bool = True
    # GetCallURL predates the aliases and keeps answering as it always has (§5).
    call_id_aliases: bool = True
    # Whether the action needs only the call's id (GetCallURL): its lookups then read no
    # other column, and any other field of the call found costs a query.
    id_only: bool = False
    # The code-1 message when nothing names a call, when it is not `nothing_given`'s.
    nothing: str | None = None

    def accepts(self, form: NamingForm) -> bool:
        return form in self.forms

    @property
    def nothing_given(self) -> str:
        """The code-1 message when the request names no call in an accepted way."""
        if self.nothing is not None:
            return self.nothing
        words = [word for form, word in _FORM_WORDS if self.accepts(form)]
        if not self.call_id_aliases and self.accepts(NamingForm.CALL_ID):
            words[0] = "callID"
        if len(words) == 1:
            return f"Give {words[0]} to name the call."
        return f"Give {', '.join(words[:-1])} or {words[-1]} to name the call."


BY_ANY = CallNaming(
    NamingForm.CALL_ID
    | NamingForm.PLATFORM_CALL_ID
    | NamingForm.NATIVE_ID
    | NamingForm.EXTENSION_STATUS
)
BY_ID = CallNaming(NamingForm.CALL_ID)
BY_ID_OR_EXTENSION = CallNaming(NamingForm.CALL_ID | NamingForm.EXTENSION_STATUS)
# GetCallURL's lookup (§5): `callID` (no aliases), else `extension` + `status`.
GET_CALL_URL = CallNaming(
    NamingForm.CALL_ID | NamingForm.EXTENSION_STATUS,
    call_id_aliases=False,
    id_only=True,
    nothing=NOTHING_TO_FIND,
)


def parameter_names(naming: CallNaming) -> tuple[str, ...]:
    """The parameters a request may name its call with, under `naming`."""
    names: list[str] = []
    if naming.accepts(NamingForm.CALL_ID):
        names += CALL_ID_NAMES if naming.call_id_aliases else CALL_ID_NAMES[:1]
    names += [name for form, name, _ in _EXACT_FORMS if naming.accepts(form)]
    if naming.accepts(NamingForm.EXTENSION_STATUS):
        names += ["extension", "status"]
    return tuple(names)


def names_a_call(naming: CallNaming) -> Field[NamedCall]:
    """The form field of an action that names a call in the ways `naming` accepts."""
    return Field(parameter_names(naming), partial(_named, naming=naming))


@dataclass(frozen=True)
class NamedCall:
    """How a request names its call, checked: exactly one of the three is set."""

    naming: CallNaming
    call_id: uuid.UUID | None = None
    # An exact id: the query that finds it, and its value.
    exact: tuple[Callable[[str, Scope], list[Call]], str] | None = None
    # Else a number and its statuses.
    number: str = ""
    statuses: tuple[Status, ...] = ()


_EXACT_FORMS = (
    (NamingForm.PLATFORM_CALL_ID, "platformCallID", calls_by_platform_call_id),
    (NamingForm.NATIVE_ID, "nativeID", calls_by_native_id),
)


def _named(params: Params, naming: CallNaming) -> NamedCall:
    """The first form the request gives and `naming` accepts, in precedence order, with its
    value checked; ApiError code 1 when malformed or when nothing names a call."""
    if naming.accepts(NamingForm.CALL_ID):
        call_id = _given_call_id(params, aliases=naming.call_id_aliases)
        if call_id is not None:
            return NamedCall(naming, call_id=call_id)
    for form, name, query in _EXACT_FORMS:
        value = params.get(name) if naming.accepts(form) else None
        if value is not None:
            return NamedCall(naming, exact=(query, _by_rule(rules.IDENTIFIER, name, value)))
    if naming.accepts(NamingForm.EXTENSION_STATUS) and params.get("extension") is not None:
        number, statuses = _extension_and_statuses(params, naming)
        return NamedCall(naming, number=number, statuses=tuple(statuses))
    raise invalid(naming.nothing_given)


def find_call(
    named: NamedCall,
    *,
    arrived_at: datetime,
    doing: str,
    scope: Scope,
    reader: Reader | None = None,
    owner: StatementOwner | None = None,
) -> Call:
    """The one call the request names (read by the action's `names_a_call` field, which
    answers code 1 for nothing that names a call, a malformed value, `next` where not
    allowed, or two of callID/ccdr_id/cid), among the calls in `scope` (the key's and the
    token's, directory.scopes): a call outside it answers exactly as an unknown one (code
    2), and the last or next call on a number is the last or next one in scope. `owner`:
    the token's user as the lookup's own statement finds it (`Context.owner`), so that the
    call-id and number lookups check the user's scope in the same statement.

    ApiError code 2 and 3 ("Unable to `doing`, because …"), or 9 when too many `next`
    requests wait already. A `next` status may wait up to NEXT_WINDOW_SECONDS. `reader`
    runs the call-id and number lookups (a `ReadAhead` may hold their answer).
    """
    naming = named.naming
    if named.call_id is not None:
        call = call_by_id_in_scope(
            named.call_id, scope, brief=naming.id_only, reader=reader, owner=owner
        )
        if call is None:
            raise call_not_found(doing)
        return call
    if named.exact is not None:
        query, value = named.exact
        return _one(query(value, scope), doing)
    wait_next = wait_for_next
    if not scope.everything and Status.NEXT in named.statuses:
        # The wait decides without a database connection: the scope's ownership periods
        # are read now, and only a call in scope releases it.
        wait_next = partial(wait_for_next, admits=scope.loaded().admits)
    try:
        found = calls_by_status(
            named.number,
            named.statuses,
            arrived_at=arrived_at,
            brief=naming.id_only,
            reader=reader,
            wait_next=wait_next,
            scope=scope,
            owner=owner,
        )
    except TooManyWaiting:
        # This server holds as many `next` waiters as it may; another will be free soon.
        logger.warning("Business API answered 9: too many status=next requests waiting")
        raise ApiError(
            Code.UNAVAILABLE, Message.UNAVAILABLE, headers={"Retry-After": "1"}
        ) from None
    return _one(found, doing)


def first_read(
    form: ActionForm,
    field: Field[NamedCall],
    *,
    arrived_at: datetime,
    owner: StatementOwner | None = None,
) -> Read[Any] | None:
    """The query `find_call` will send first, when the request names a call by id or by
    number and validly (the form's `field`, read once: `run` finds it read already): the
    transport sends it together with the key's lookup. None otherwise (`find_call` then
    sends its own queries, or the action answers the field's error). `owner`: as for
    `find_call`, which must be given the same."""
    try:
        named = form.value_of(field)
    except ApiError:
        return None
    brief = named.naming.id_only
    if named.call_id is not None:
        return call_by_id_read(named.call_id, brief=brief, owner=owner)
    if named.number:
        return first_status_read(
            named.number, named.statuses, arrived_at=arrived_at, brief=brief, owner=owner
        )
    return None


def parse_call_id(raw: str, name: str = "callID") -> uuid.UUID:
    # The canonical 8-4-4-4-12 form only (any letter case), as Verba prints call IDs; the
    # spaces a copy and paste brings along are forgiven (calls.rules.guid).
    try:
        return rules.guid(raw)
    except rules.Refused:
        raise invalid(CALL_ID_MALFORMED.format(name=name)) from None


def _by_rule(rule: rules.TextRule, name: str, raw: str) -> str:
    """`raw` cleaned by `rule`; code 1 naming the parameter when it breaks it."""
    try:
        return rule.clean(raw)
    except rules.Refused as refused:
        raise invalid(refused.sentence(f"The {name} parameter")) from None


def parse_statuses(raw: str, *, allow_next: bool = True) -> list[Status]:
    statuses: list[Status] = []
    for part in raw.split(","):
        try:
            status = Status(part.strip().lower())
        except ValueError:
            raise invalid(STATUS_MALFORMED if allow_next else STATUS_NO_NEXT) from None
        if status in statuses:
            raise invalid(STATUS_MALFORMED if allow_next else STATUS_NO_NEXT)
        if status is Status.NEXT and not allow_next:
            raise invalid(STATUS_NO_NEXT)
        statuses.append(status)
    return statuses


def _given_call_id(params: Params, *, aliases: bool) -> uuid.UUID | None:
    names = CALL_ID_NAMES if aliases else CALL_ID_NAMES[:1]
    given = [(name, value) for name in names if (value := params.get(name)) is not None]
    if len(given) > 1:
        raise invalid(CALL_ID_TWICE)
    if not given:
        return None
    name, value = given[0]
    return parse_call_id(value, name)


def _extension_and_statuses(params: Params, naming: CallNaming) -> tuple[str, list[Status]]:
    # No number holds a control character, and PostgreSQL could not even compare one
    # holding NUL: malformed, not merely unknown.
    number = _by_rule(rules.NUMBER, "extension", params.get("extension") or "")
    raw_status = params.get("status")
    if raw_status is None:
        raise invalid(STATUS_MISSING)
    return number, parse_statuses(raw_status, allow_next=naming.allow_next)


def _one(found: list[Call], doing: str) -> Call:
    if not found:
        raise call_not_found(doing)
    if len(found) > 1:
        raise ambiguous_calls(doing)
    return found[0]
