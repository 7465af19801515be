"""Finding calls for the Business API's GetCallURL (and the actions that share its lookup).

Independent of HTTP: every function takes plain values and returns calls. A result list
means: empty → nothing found, one call → the answer, two calls → ambiguous.

"The number is the caller or the called party" is never asked as one OR: on a hot number
that scans hundreds of thousands of rows. Each column is asked on its own, from its
`(number, ended_at)` index, each arm cut at two rows, and merged here: `last` as a backward
scan per column, `ongoing` as one arm per column and end state (no end yet, an end still
to come).

These are the Business API's hot queries, so they are hand-written SQL (shared/sql.py):
one round trip per lookup, whatever the statuses (`ongoing,last` asks both at once, as one
UNION ALL of short index scans, and the first status that found a call answers), with no
ORM compilation per request, and prepared once per PostgreSQL connection: planning them
took longer than running them. tests/test_query_plans.py checks their plans (the generic
one included) on PostgreSQL.

With a token, the call-id and number lookups also check the token user's `own` scope in
their statement (the `_owned` variants: `StatementOwner`, `Checked`), so that a scope costs
a condition, not a round trip; tests/test_scope_plans.py checks those plans.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import RawSQL
from django.utils import timezone

from calls.models import Call
from calls.states import State, max_call_length, state_q
from directory.scopes import EVERYTHING, Scope, StatementOwner, owned_scope
from shared.sql import ModelColumns, Read, Reader, VendorSql, run

T = TypeVar("T")


class Status(StrEnum):
    ONGOING = "ongoing"
    NEXT = "next"
    LAST = "last"


CALL = ModelColumns(Call)
# A brief call: its id, and the end that ranks `last`'s candidates. For a caller that needs
# only to name the call (GetCallURL): less to send and to read per row than every column.
BRIEF_CALL = ModelColumns(Call, ("id", "ended_at"))


def _columns(brief: bool) -> ModelColumns[Call]:
    return BRIEF_CALL if brief else CALL


# The SQL below is assembled from quoted model names only; every value is a parameter.


def _call_by_id_sql(connection: BaseDatabaseWrapper, *, brief: bool) -> str:
    # The primary key is unique: no ORDER BY (which `.first()` would add), no LIMIT needed.
    qn = connection.ops.quote_name
    columns = _columns(brief).select_list(connection)
    return f"SELECT {columns} FROM {qn(CALL.table)} WHERE {qn('id')} = %s"


_CALL_BY_ID = {
    brief: VendorSql(
        partial(_call_by_id_sql, brief=brief),
        "calls_call_brief_by_id" if brief else "calls_call_by_id",
        prepare=True,
    )
    for brief in (False, True)
}


@dataclass(frozen=True)
class Checked(Generic[T]):
    """A lookup's answer from a statement that also checked the `own` scope of the user it
    found itself (`StatementOwner`): that user's id, or None when it found none (no token,
    or a user whose scope is not `own`: nothing was checked, and the answer is unscoped)."""

    owner: int | None
    answer: T


def _owner_condition(connection: BaseDatabaseWrapper) -> tuple[str, list[Any]]:
    """The scope's one condition (directory.scopes) on a call of the unaliased calls table,
    for the `own` scope of the statement's owner, which the statement's `WITH o` found once
    (`_with_owner`): the ORM's SQL, compiled when a statement is built (once per vendor)."""
    qn = connection.ops.quote_name
    # A quoted name only, no value: the owner is what the statement's `WITH o` found.
    owner = RawSQL(f"(SELECT o.{qn('owner')} FROM o)", ())  # noqa: S611
    query = owned_scope(owner).filter(Call.objects.all()).query
    compiler = query.get_compiler(connection=connection)
    compiler.pre_sql_setup()
    sql, params = compiler.compile(compiler.where)
    return sql, list(params)


def _with_owner(connection: BaseDatabaseWrapper, owner: VendorSql) -> str:
    # One row whatever the token: the owner's id, or NULL.
    return f"WITH o AS (SELECT ({owner(connection)}) AS {connection.ops.quote_name('owner')})"


def _call_by_id_owned_sql(connection: BaseDatabaseWrapper, *, brief: bool, owner: VendorSql) -> str:
    # The owner's row, the call (NULLs when there is none) and whether it is in the owner's
    # scope (NULL when there is no owner: nothing is checked).
    qn = connection.ops.quote_name
    table = qn(CALL.table)
    columns = _columns(brief).select_list(connection)
    condition, _ = _owner_condition(connection)
    return (
        f"{_with_owner(connection, owner)} SELECT o.{qn('owner')}, {columns},"
        f" CASE WHEN o.{qn('owner')} IS NULL THEN NULL ELSE {condition} END"
        f" FROM o LEFT JOIN {table} ON {table}.{qn('id')} = %s"
    )


_CALL_BY_ID_OWNED: dict[tuple[bool, str], VendorSql] = {}


def _owned_sql(
    kept: dict[tuple[Any, ...], VendorSql],
    key: tuple[Any, ...],
    build: Callable[..., str],
    name: str,
    owner: StatementOwner,
    **kwargs: Any,
) -> VendorSql:
    """The owner variant of a lookup, kept per shape and owner statement (one prepared
    statement each)."""
    found = kept.get((*key, owner.sql.name))
    if found is None:
        found = kept[(*key, owner.sql.name)] = VendorSql(
            partial(build, owner=owner.sql, **kwargs), name, prepare=owner.sql.prepare
        )
    return found


def call_by_id_read(
    call_id: uuid.UUID, *, brief: bool = False, owner: StatementOwner | None = None
) -> Read[Any]:
    """The call with this id, or None: as a read, to run alone or with another. A `brief`
    call holds only its id and end (any other field would cost a query).

    With an `owner`, the read finds that user itself and also answers whether the call is in
    the user's `own` scope: a `Checked` (call or None, in scope), for `call_by_id_in_scope`.
    """
    value = CALL.value("id", call_id, connection)
    if owner is None:
        return Read(_CALL_BY_ID[brief], (value,), partial(_one_call, _columns(brief)))
    sql = _owned_sql(
        _CALL_BY_ID_OWNED,
        (brief,),
        _call_by_id_owned_sql,
        ("calls_call_brief_by_id" if brief else "calls_call_by_id") + "_owned",
        owner,
        brief=brief,
    )
    condition_params = tuple(_owner_condition_params(connection))
    params = (*owner.params, *condition_params, value)
    return Read(sql, params, partial(_one_checked_call, _columns(brief)))


_CONDITION_PARAMS: dict[str, list[Any]] = {}


def _owner_condition_params(connection: BaseDatabaseWrapper) -> list[Any]:
    params = _CONDITION_PARAMS.get(connection.vendor)
    if params is None:
        params = _CONDITION_PARAMS[connection.vendor] = _owner_condition(connection)[1]
    return params


def _one_checked_call(
    columns: ModelColumns[Call], rows: list[tuple[Any, ...]]
) -> Checked[tuple[Call | None, bool]]:
    row = rows[0]
    # The call's id is its first column: NULL when there is no such call.
    call = columns.instances([row], connection, start=1)[0] if row[1] is not None else None
    return Checked(row[0], (call, bool(row[-1])))


def call_by_id(
    call_id: uuid.UUID, *, brief: bool = False, reader: Reader | None = None
) -> Call | None:
    read: Read[Call | None] = call_by_id_read(call_id, brief=brief)
    return (reader or _run)(read)


def call_by_id_in_scope(
    call_id: uuid.UUID,
    scope: Scope,
    *,
    brief: bool = False,
    reader: Reader | None = None,
    owner: StatementOwner | None = None,
) -> Call | None:
    """The call with this id when it is in `scope`, else None (outside its scope a call
    does not exist).

    With an `owner` (the request's token user, found by the statement itself), the lookup
    and the scope check are one statement when `scope` is that user's `own` scope or every
    call; any other scope is checked by `call_in_scope`, a statement of its own.
    """
    if owner is None:
        call = call_by_id(call_id, brief=brief, reader=reader)
        return call if call is not None and call_in_scope(call.pk, scope) else None
    checked: Checked[tuple[Call | None, bool]] = (reader or _run)(
        call_by_id_read(call_id, brief=brief, owner=owner)
    )
    call, in_scope = checked.answer
    if call is None:
        return None
    if checked.owner is None and scope.everything:
        return call
    if checked.owner is not None and checked.owner == scope.single_owner:
        return call if in_scope else None
    return call if call_in_scope(call.pk, scope) else None


def _one_call(columns: ModelColumns[Call], rows: list[tuple[Any, ...]]) -> Call | None:
    found = columns.instances(rows, connection)
    return found[0] if found else None


def _run(read: Read[Any]) -> Any:
    return run(connection, read)


def _lookup_sql(
    connection: BaseDatabaseWrapper,
    *,
    ongoing: bool,
    last: bool,
    brief: bool,
    owner: VendorSql | None = None,
) -> str:
    """One SELECT answering `ongoing` and/or `last` for a number; each row is tagged with
    the status it answers (0 ongoing, 1 last). Its parameters come from `_lookup_params`.

    Every arm is a short scan of one `(number, ended_at)` index, whatever the number: the
    statement is prepared, and PostgreSQL's generic plan cannot see whether a number is hot.

    With an `owner` (`StatementOwner`), each arm keeps only the calls in the owner's `own`
    scope (every call when the statement found no owner), still cut at two rows, and every
    row starts with the owner's id; there is always one row, which names the owner.
    """
    qn = connection.ops.quote_name
    table = qn(CALL.table)
    caller, called = qn("caller_number"), qn("called_number")
    started, ended = qn("started_at"), qn("ended_at")
    columns = _columns(brief).select_list(connection, "c")
    guard = connection.vendor == "postgresql"
    # Without these two guards a generic plan may answer an arm from a start-time index,
    # reading every call of a hot number (tests/test_query_plans.py refuses that plan):
    # the start-time bounds are kept out of the index conditions (IS TRUE), and the future
    # end is a bounded range (no stored end is infinite), which the planner takes to be far
    # more selective than the open-ended start.
    out_of_index = " IS TRUE" if guard else ""
    window = f"({started} > %s AND {started} <= %s){out_of_index}"
    to_come = f"{ended} > %s" + (f" AND {ended} < 'infinity'" if guard else "")
    in_scope = ""
    if owner is not None:
        owned, _ = _owner_condition(connection)
        in_scope = f" AND ((SELECT o.{qn('owner')} FROM o) IS NULL OR {owned})"
    # The start of a call whose end is to come: checked on the rows found, never an index
    # condition (a generic plan took `started_at <= now` on the (number, started_at) index
    # and read every call of a hot number as caller: 2–3 ms at 200 k calls).
    started_by = f"({started} <= %s){out_of_index}"
    parts = []
    if ongoing:
        # In progress as calls.states defines it (no_end_yet | end_to_come, started), one
        # arm per number column and end state, each cut at two rows.
        for column in (caller, called):
            for condition in (f"{ended} IS NULL AND {window}", f"{to_come} AND {started_by}"):
                in_progress = (
                    f"SELECT * FROM {table} WHERE {column} = %s AND {condition}{in_scope} LIMIT 2"
                )
                parts.append(f"SELECT 0, {columns} FROM ({in_progress}) c")
    if last:
        # The latest end on each side: one backward scan of a (number, ended_at) index each.
        for column in (caller, called):
            latest = (
                f"SELECT * FROM {table} WHERE {column} = %s AND {ended} <= %s{in_scope} "
                f"ORDER BY {ended} DESC LIMIT 2"
            )
            parts.append(f"SELECT 1, {columns} FROM ({latest}) c")
    union = " UNION ALL ".join(parts)
    if owner is None:
        return union
    return (
        f"{_with_owner(connection, owner)} SELECT o.{qn('owner')}, f.*"
        f" FROM o LEFT JOIN ({union}) f ON TRUE"
    )


_LOOKUPS = {
    (ongoing, last, brief): VendorSql(
        partial(_lookup_sql, ongoing=ongoing, last=last, brief=brief),
        "calls_call_"
        + "_".join(s for s, on in (("brief", brief), ("ongoing", ongoing), ("last", last)) if on),
        prepare=True,
    )
    for ongoing in (False, True)
    for last in (False, True)
    for brief in (False, True)
    if ongoing or last
}
_LOOKUPS_OWNED: dict[tuple[Any, ...], VendorSql] = {}


def _lookup_params(
    number: str, now: datetime, *, ongoing: bool, last: bool, per_arm: Sequence[Any] = ()
) -> list[Any]:
    """The lookup's parameters; `per_arm` closes each arm's (the owner's scope)."""
    at = CALL.value("started_at", now, connection)
    params: list[Any] = []
    if ongoing:
        oldest = CALL.value("started_at", now - max_call_length(), connection)
        params += [number, oldest, at, *per_arm, number, at, at, *per_arm] * 2
    if last:
        params += [number, at, *per_arm] * 2
    return params


# What a number lookup answers: the calls in progress (at most two) and the latest finished
# calls (one, or two sharing the latest end); a part not asked for is empty.
Found = tuple[list[Call], list[Call]]


def lookup_read(
    number: str,
    now: datetime,
    *,
    ongoing: bool = True,
    last: bool = True,
    brief: bool = False,
    owner: StatementOwner | None = None,
) -> Read[Any]:
    """The calls in progress on `number` and its latest finished calls, in one round trip;
    only the parts asked for. `brief` calls hold only their id and end.

    With an `owner`, only the calls in that user's `own` scope, as a `Checked` (see
    `_lookup_sql`)."""
    columns = _columns(brief)
    if owner is None:
        params = _lookup_params(number, now, ongoing=ongoing, last=last)
        return Read(_LOOKUPS[ongoing, last, brief], tuple(params), partial(_found, columns))
    sql = _owned_sql(
        _LOOKUPS_OWNED,
        (ongoing, last, brief),
        _lookup_sql,
        _LOOKUPS[ongoing, last, brief].name + "_owned",
        owner,
        ongoing=ongoing,
        last=last,
        brief=brief,
    )
    per_arm = _owner_condition_params(connection)
    params = _lookup_params(number, now, ongoing=ongoing, last=last, per_arm=per_arm)
    return Read(sql, (*owner.params, *params), partial(_checked_found, columns))


def _checked_found(columns: ModelColumns[Call], rows: list[tuple[Any, ...]]) -> Checked[Found]:
    # Each row: the owner, then a lookup's row (all NULL in the one row when none matched).
    found = [row[1:] for row in rows if row[1] is not None]
    return Checked(rows[0][0], _found(columns, found))


def _end(call: Call) -> datetime:
    if call.ended_at is None:  # the lookups' candidates are ended calls, never one without
        raise ValueError(f"call {call.pk} has no end")
    return call.ended_at


def _found(columns: ModelColumns[Call], rows: list[tuple[Any, ...]]) -> Found:
    # A call from a number to itself shows up in the scans of both columns.
    in_progress: dict[uuid.UUID, Call] = {}
    for call in columns.instances((r for r in rows if r[0] == 0), connection, start=1):
        in_progress.setdefault(call.pk, call)
    candidates: dict[uuid.UUID, Call] = {}
    for call in columns.instances((r for r in rows if r[0] != 0), connection, start=1):
        candidates.setdefault(call.pk, call)
    ranked = sorted(candidates.values(), key=_end, reverse=True)
    if len(ranked) >= 2 and ranked[0].ended_at == ranked[1].ended_at:
        return list(in_progress.values())[:2], ranked[:2]
    return list(in_progress.values())[:2], ranked[:1]


def _lookup(number: str, now: datetime, *, ongoing: bool = True, last: bool = True) -> Found:
    return _run(lookup_read(number, now, ongoing=ongoing, last=last))


def ongoing_calls(number: str, *, now: datetime | None = None) -> list[Call]:
    """Calls in progress on `number` (at most two: enough to tell "one" from "several").

    In progress as calls.states defines it, spelled out in SQL per number column.
    """
    return _lookup(number, now or timezone.now(), last=False)[0]


def last_calls(number: str, *, now: datetime | None = None) -> list[Call]:
    """The finished call on `number` with the latest end, or two when that end is shared."""
    return _lookup(number, now or timezone.now(), ongoing=False)[1]


# How `next` waits: the long poll (longpoll.watcher.wait_for_next) sits above the domain,
# so the caller hands it in rather than calls importing it.
NextWait = Callable[[str, datetime], Sequence[Call]]


def _no_wait(number: str, arrived_at: datetime) -> Sequence[Call]:
    raise ValueError("`next` needs a wait: pass wait_next=longpoll.watcher.wait_for_next")


def calls_by_status(
    number: str,
    statuses: Sequence[Status],
    *,
    arrived_at: datetime,
    brief: bool = False,
    reader: Reader | None = None,
    wait_next: NextWait = _no_wait,
    scope: Scope = EVERYTHING,
    owner: StatementOwner | None = None,
) -> list[Call]:
    """Try `statuses` in order; the first that finds any call answers (one, or two = ambiguous).

    `ongoing` and `last` are answered together by one query, asked when the first of them
    is reached: as of `arrived_at`, or, after a `next` has waited, as of that moment. Their
    calls are `brief` when asked so (see `call_by_id_read`).

    Only calls in `scope` count (directory.scopes): outside it a call does not exist, so the
    last call on a number is the last one in scope. With an `owner` (the request's token
    user, found by the statement itself) the lookup checks that user's `own` scope in the
    same statement, and answers for `scope` when it is that scope or every call. Any other
    narrowed scope is asked through the ORM with the scope's condition (`_scoped_lookup`).
    `wait_next` is to admit only calls in scope too.
    """
    answered: dict[Status, list[Call]] = {}
    waited = False
    for index, status in enumerate(statuses):
        if status is Status.NEXT:
            found = list(wait_next(number, arrived_at))[:2]
            waited = True
        else:
            if status not in answered:
                ahead = _asked_together(statuses[index:])
                now = timezone.now() if waited else arrived_at
                found_ongoing, found_last = _in_scope_by_status(
                    number, now, scope, ahead, brief=brief, reader=reader, owner=owner
                )
                if Status.ONGOING in ahead:
                    answered[Status.ONGOING] = found_ongoing
                if Status.LAST in ahead:
                    answered[Status.LAST] = found_last
            found = answered[status]
        if found:
            return found
    return []


def _in_scope_by_status(
    number: str,
    now: datetime,
    scope: Scope,
    statuses: Sequence[Status],
    *,
    brief: bool,
    reader: Reader | None,
    owner: StatementOwner | None,
) -> Found:
    """`lookup_read`'s answer for `statuses` (asked together) among the calls in `scope`."""
    if owner is not None:
        checked: Checked[Found] = (reader or _run)(
            _status_read(number, statuses, now, brief=brief, owner=owner)
        )
        # Only for the scope it checked: the owner's own, or every call when it found none.
        if checked.owner == scope.single_owner and (checked.owner is not None or scope.everything):
            return checked.answer
    if scope.everything:
        read: Read[Found] = _status_read(number, statuses, now, brief=brief)
        return (reader or _run)(read)
    return _scoped_lookup(number, now, scope, statuses, brief=brief)


def first_status_read(
    number: str,
    statuses: Sequence[Status],
    *,
    arrived_at: datetime,
    brief: bool = False,
    owner: StatementOwner | None = None,
) -> Read[Any] | None:
    """The query `calls_by_status` starts with, when it starts with one (not with a wait)."""
    if not statuses or statuses[0] is Status.NEXT:
        return None
    return _status_read(number, statuses, arrived_at, brief=brief, owner=owner)


def _asked_together(statuses: Sequence[Status]) -> list[Status]:
    """The statuses up to the next `next` (or the end): one query answers them."""
    rest = list(statuses)
    return rest[: rest.index(Status.NEXT)] if Status.NEXT in rest else rest


def _status_read(
    number: str,
    statuses: Sequence[Status],
    now: datetime,
    *,
    brief: bool,
    owner: StatementOwner | None = None,
) -> Read[Any]:
    ahead = _asked_together(statuses)
    ongoing, last = Status.ONGOING in ahead, Status.LAST in ahead
    return lookup_read(number, now, ongoing=ongoing, last=last, brief=brief, owner=owner)


def _scoped_lookup(
    number: str, now: datetime, scope: Scope, statuses: Sequence[Status], *, brief: bool
) -> Found:
    """`lookup_read`'s answer among the calls in `scope`: per number column, so each side
    is read from its own (number, …) index, the scope's condition checked per row."""
    in_progress: dict[uuid.UUID, Call] = {}
    candidates: dict[uuid.UUID, Call] = {}
    for column in ("caller_number", "called_number"):
        side = scope.filter(Call.objects.filter(**{column: number}))
        if brief:
            side = side.only(*BRIEF_CALL.attnames)
        if Status.ONGOING in statuses:
            for call in side.filter(state_q(State.IN_PROGRESS, now))[:2]:
                in_progress.setdefault(call.pk, call)
        if Status.LAST in statuses:
            for call in side.filter(ended_at__lte=now).order_by("-ended_at")[:2]:
                candidates.setdefault(call.pk, call)
    # Every candidate has an end (at or before `now`).
    ranked = sorted(candidates.values(), key=lambda call: call.ended_at or now, reverse=True)
    tied = len(ranked) >= 2 and ranked[0].ended_at == ranked[1].ended_at
    return list(in_progress.values())[:2], ranked[: 2 if tied else 1]


def call_in_scope(call_id: uuid.UUID, scope: Scope) -> bool:
    """Whether the call with this id is in `scope` (True for every call when the scope is
    everything, without a query).

    The statement is the ORM's (the scope's one condition, directory.scopes), compiled once
    per scope shape and prepared: compiling and planning it took far longer than the
    primary-key lookup it asks for (bench/scopes.py). Only the values change.
    """
    if scope.everything:
        return True
    shape = scope.shape
    if shape is None:
        return scope.filter(Call.objects.filter(pk=call_id)).exists()
    sql, template, call_at, value_at = _in_scope_statement(scope)
    params = list(template)
    params[call_at] = CALL.value("id", call_id, connection)
    for positions, value in zip(value_at, scope.values, strict=True):
        for at in positions:
            params[at] = value
    return run(connection, Read(sql, tuple(params), bool))


# Stand-ins the statement is compiled with; their positions in the parameters are where
# each request's call id and owner values go.
_SOME_CALL = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
_SOME_OWNER = -424242
_IN_SCOPE: dict[tuple[str, ...], tuple[VendorSql, tuple[Any, ...], int, list[list[int]]]] = {}


def _in_scope_statement(
    scope: Scope,
) -> tuple[VendorSql, tuple[Any, ...], int, list[list[int]]]:
    shape = scope.shape
    if shape is None:
        raise ValueError("a scope without a shape has no kept statement")
    found = _IN_SCOPE.get(shape)
    if found is None:
        stand_ins = tuple(_SOME_OWNER - n for n in range(len(shape)))
        query = (
            scope.with_values(stand_ins)
            .filter(Call.objects.filter(pk=_SOME_CALL))
            .values("pk")[:1]
            .query
        )

        def build(connection: BaseDatabaseWrapper) -> str:
            return query.get_compiler(connection=connection).as_sql()[0]

        _, params = query.get_compiler(connection=connection).as_sql()
        call_at = list(params).index(CALL.value("id", _SOME_CALL, connection))
        value_at = [[n for n, p in enumerate(params) if p == s] for s in stand_ins]
        sql = VendorSql(build, "calls_call_in_scope_" + "_".join(shape), prepare=True)
        found = _IN_SCOPE[shape] = (sql, tuple(params), call_at, value_at)
    return found


def calls_by_platform_call_id(platform_call_id: str, scope: Scope = EVERYTHING) -> list[Call]:
    """Calls with exactly this platform call ID (case-sensitive) in `scope`; two mean
    ambiguous."""
    return list(scope.filter(Call.objects.filter(platform_call_id=platform_call_id))[:2])


def calls_by_native_id(native_id: str, scope: Scope = EVERYTHING) -> list[Call]:
    """Calls with exactly this native ID (case-sensitive) in `scope`; two mean ambiguous."""
    return list(scope.filter(Call.objects.filter(native_id=native_id))[:2])


def calls_by_native_id_and_start(
    native_id: str, started_at: datetime, scope: Scope = EVERYTHING
) -> list[Call]:
    """Calls in `scope` with exactly this native ID and start (PutMedia's "the same call
    again"); two mean ambiguous."""
    calls = Call.objects.filter(native_id=native_id, started_at=started_at)
    return list(scope.filter(calls)[:2])
