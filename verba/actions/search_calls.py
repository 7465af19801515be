"""SearchCalls (§7.3, §7.13): "Retrieves all CDRs that match a search filter." One page of
`<verbacdr>` records of the calls that started in a period."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from django.utils import timezone

from access_log.models import Kind
from calls import rules
from calls.metadata import metadata_by_call
from search.search_calls import CdrStatus, OrderBy, PeriodSearch, search_period
from verba.actions import Action, Context, register
from verba.actions.access import record_read
from verba.actions.options import return_metadata
from verba.answers import Answer
from verba.call_records import call_list
from verba.codes import invalid
from verba.forms import ActionForm, Field, field
from verba.params import Params, time_span

PAGE_LENGTH_MAX = 1000
PAGE_LENGTH_DEFAULT = 100
# OFFSET is a bigint in PostgreSQL; far beyond any period's calls anyway.
PAGE_FIRST_MAX = 2**31 - 1
# Each part is two more arms of an OR: enough for any form, not a query of thousands.
PARTS_MAX = 20
NUMBER_PART = rules.NUMBER_PART
NAME_PART = rules.NAME_PART


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


E = TypeVar("E", bound=StrEnum)


def _choice(params: Params, name: str, choices: type[E], default: E, *, fold: bool) -> E:
    raw = params.get(name)
    if raw is None:
        return default
    value = raw.strip()
    # ASCII only: str.lower() would turn the Kelvin sign into k.
    if value.isascii():
        try:
            return choices(value.lower() if fold else value)
        except ValueError:
            pass
    names = ", ".join(c.value for c in choices)
    raise invalid(f"The {name} parameter must be one of {names}.")


def _parts(params: Params, name: str, rule: rules.TextRule) -> tuple[str, ...]:
    # Trimmed, blanks and repeats dropped: "8856" twice is one condition.
    parts = tuple(dict.fromkeys(p for v in params.get_all(name) if (p := v.strip())))
    if len(parts) > PARTS_MAX:
        raise invalid(f"The {name} parameter may be given at most {PARTS_MAX} times.")
    for part in parts:
        try:
            rule.clean(part)
        except rules.Refused as refused:
            raise invalid(refused.sentence(f"The {name} parameter")) from None
    return parts


def _integer(params: Params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    value = raw.strip()
    # ASCII digits only: int() would read full-width digits, "+5" and "1_000".
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise invalid(f"The {name} parameter must be a whole number from {low} to {high}.")
    return int(value)


class SearchCallsForm(ActionForm):
    start = field("start", time_span)
    end = field("end", time_span)
    status: Field[CdrStatus] = field(
        "status", _choice, choices=CdrStatus, default=CdrStatus.RECORDED, fold=True
    )
    anynum = field("anynum", _parts, repeatable=True, rule=NUMBER_PART)
    anyname = field("anyname", _parts, repeatable=True, rule=NAME_PART)
    orderby: Field[OrderBy] = field(
        "orderby", _choice, choices=OrderBy, default=OrderBy.START_TIME, fold=False
    )
    order: Field[Order] = field("order", _choice, choices=Order, default=Order.DESC, fold=True)
    pagelen = field("pagelen", _integer, default=PAGE_LENGTH_DEFAULT, low=1, high=PAGE_LENGTH_MAX)
    pagefirst = field("pagefirst", _integer, default=0, low=0, high=PAGE_FIRST_MAX)
    return_metadata = return_metadata()


@register
class SearchCalls(Action):
    name = "SearchCalls"
    form = SearchCallsForm

    def run(self, context: Context) -> Answer:
        form = context.form_as(SearchCallsForm)
        search = PeriodSearch(
            started_from=form.start[0],
            started_before=form.end[1],
            status=form.status,
            number_parts=form.anynum,
            name_parts=form.anyname,
            order_by=form.orderby,
            descending=form.order is Order.DESC,
        )
        # As written: `end` 10:00 is before `start` 10:00:30, though it covers 10:00:59.
        try:
            rules.check_span(form.start[0], form.end[0])
        except rules.EndBeforeStart as refused:
            raise invalid(refused.message) from None
        page_length = form.pagelen
        page_first = form.pagefirst
        with_metadata = form.return_metadata

        now = timezone.now()
        calls = search_period(
            search, offset=page_first, limit=page_length, now=now, scope=context.scope
        )
        metadata = metadata_by_call([c.pk for c in calls]) if with_metadata else None
        record_read(
            context, Kind.SEARCH, self.name, criteria=_criteria(context.params), count=len(calls)
        )
        return Answer(
            type=self.name,
            records=call_list(calls, now=now, metadata=metadata, zone=context.zone),
        )


# What a search's access event keeps of its request: its criteria, as given.
CRITERIA = ("start", "end", "status", "anynum", "anyname", "orderby", "order")
PAGE = ("pagelen", "pagefirst")
REPEATABLE = ("anynum", "anyname")


def _criteria(params: Params) -> dict[str, str | list[str]]:
    given: dict[str, str | list[str]] = {}
    for name in (*CRITERIA, *PAGE):
        values = params.get_all(name)
        if values:
            given[name] = values if name in REPEATABLE else values[0]
    return given
