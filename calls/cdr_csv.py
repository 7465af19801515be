"""Reading call detail records from CSV: column mapping and row validation.

Accepts our own column names and those of the Verba CDR export. The mapping is documented
in docs/ingest.md; keep the two in step.
"""

import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from calls import rules
from calls.models import Direction
from shared.times import parse_datetime

# The admin's CSV columns in the site's words (the staff pages' names): its export writes
# them; both imports read them, and the names of earlier exports, through COLUMNS.
HEADINGS: dict[str, str] = {
    "id": "Call ID",
    "caller_number": "Caller number",
    "caller_name": "Caller name",
    "called_number": "Called party number",
    "called_name": "Called party name",
    "started_at": "Start",
    "ended_at": "End",
    "direction": "Direction",
    "native_id": "Native ID",
    "platform_call_id": "Platform call ID",
    "keep": "Keep",
    "metadata": "Custom metadata",
}

# Header name (lower case; spaces and hyphens read as "_": see `field_of`) → Call field.
# Each field's heading in HEADINGS, its name in exports before the headings (the field's
# own name), and the Verba CDR export's name.
COLUMNS: dict[str, str] = {
    "id": "id",
    "call_id": "id",
    "ccdr_id": "id",
    "caller_number": "caller_number",
    "source_caller_id": "caller_number",
    "caller_name": "caller_name",
    "source_name": "caller_name",
    "called_number": "called_number",
    "destination_caller_id": "called_number",
    "called_party_number": "called_number",
    "called_name": "called_name",
    "destination_name": "called_name",
    "called_party_name": "called_name",
    "started_at": "started_at",
    "start_time": "started_at",
    "start": "started_at",
    "ended_at": "ended_at",
    "end_time": "ended_at",
    "end": "ended_at",
    "direction": "direction",
    "direction_id": "direction",
    "native_id": "native_id",
    "platform_call_id": "platform_call_id",
    "keep": "keep",
    "do_not_delete": "keep",
}
REQUIRED_FIELDS = ("id", "caller_number", "called_number", "started_at")

_DIRECTIONS = {
    "inbound": Direction.INBOUND,
    "in": Direction.INBOUND,
    "incoming": Direction.INBOUND,
    "pstn in": Direction.INBOUND,
    "federated in": Direction.INBOUND,
    "contact center in": Direction.INBOUND,
    "outbound": Direction.OUTBOUND,
    "out": Direction.OUTBOUND,
    "outgoing": Direction.OUTBOUND,
    "pstn out": Direction.OUTBOUND,
    "federated out": Direction.OUTBOUND,
    "contact center out": Direction.OUTBOUND,
    "internal": Direction.INTERNAL,
}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"", "0", "false", "no", "n", "f"}


class HeaderError(ValueError):
    """The file cannot be imported at all (its header lacks or repeats a column)."""


class RowError(ValueError):
    """One row is rejected; the message names the column and the reason."""


@dataclass(frozen=True)
class Header:
    # (position in the row, field) for each mapped column, in file order.
    positions: tuple[tuple[int, str], ...]
    width: int
    ignored: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The Call fields the file gives, except the id."""
        return tuple(field for _, field in self.positions if field != "id")


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


def field_of(header: str) -> str | None:
    """The Call field a column of this name gives, or None (a column both imports ignore)."""
    return COLUMNS.get(header.strip().lower().replace(" ", "_").replace("-", "_"))


def read_header(names: list[str]) -> Header:
    positions: list[tuple[int, str]] = []
    seen: dict[str, str] = {}
    ignored: list[str] = []
    for index, raw in enumerate(names):
        field = field_of(raw)
        if field is None:
            ignored.append(raw.strip())
            continue
        if field in seen:
            raise HeaderError(f"Columns “{seen[field]}” and “{raw.strip()}” both give {field}.")
        seen[field] = raw.strip()
        positions.append((index, field))
    missing = [field for field in REQUIRED_FIELDS if field not in seen]
    if missing:
        wanted = ", ".join(
            "/".join(name for name, f in COLUMNS.items() if f == field) for field in missing
        )
        raise HeaderError(f"The header lacks required columns: {wanted}.")
    return Header(tuple(positions), len(names), tuple(ignored))


def read_rows(
    text: IO[str], delimiter: str = ","
) -> tuple[Header, Iterator[tuple[int, dict[str, Any] | Rejected]]]:
    """The header, and an iterator of (line number, parsed row or Rejected), streaming."""
    reader = csv.reader(text, delimiter=delimiter)
    try:
        names = next(reader)
    except StopIteration:
        raise HeaderError("The file is empty.") from None
    header = read_header(names)

    def rows() -> Iterator[tuple[int, dict[str, Any] | Rejected]]:
        line = reader.line_num + 1
        for values in reader:
            start, line = line, reader.line_num + 1
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            try:
                yield start, parse_row(header, values)
            except RowError as exc:
                yield start, Rejected(start, str(exc))

    return header, rows()


def parse_row(header: Header, values: list[str]) -> dict[str, Any]:
    if len(values) != header.width:
        raise RowError(f"expected {header.width} columns, found {len(values)}")
    row: dict[str, Any] = {}
    for index, field in header.positions:
        try:
            row[field] = _PARSERS[field](values[index])
        except ValueError as exc:
            raise RowError(f"{field}: {exc}") from None
    try:
        rules.check_span(row["started_at"], row.get("ended_at"))
    except rules.EndBeforeStart as refused:
        raise RowError(f"ended_at: {refused.message}") from None
    return row


def _guid(value: str) -> uuid.UUID:
    try:
        return rules.guid(value)
    except rules.Refused:
        raise ValueError(f"{_show(value)} is not {rules.GUID_REQUIREMENT}") from None


def _by_rule(rule: rules.TextRule) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return rule.clean(value)
        except rules.Refused as refused:
            raise ValueError(f"must be {refused.requirement}") from None

    return parse


def parse_time(value: str) -> datetime:
    """A CSV time, for both CSV imports (the admin's and `import_calls`): ISO 8601, and a
    time without an offset is UTC (shared.times; Verba exports UTC without one, ours carry
    an offset), whatever the server's TIME_ZONE."""
    try:
        return parse_datetime(value)
    except ValueError:
        raise ValueError(f"{_show(value)} is not a date and time") from None


def line_number(data_row: int) -> int:
    """The file line (and spreadsheet row) of the `data_row`th row after the header: both
    imports report rows this way, so a number can be found in an editor or a spreadsheet.
    (A quoted value spanning lines shifts it; `read_rows` counts real lines.)"""
    return data_row + 1


def _optional_time(value: str) -> datetime | None:
    return parse_time(value) if value.strip() else None


def _direction(value: str) -> str:
    text = " ".join(value.split()).lower()
    if text in _DIRECTIONS:
        return _DIRECTIONS[text]
    if not text or text.isdigit():
        # Verba's numeric direction ids carry no public meaning we could map; keep the call.
        return ""
    raise ValueError(f"{_show(value)} is not inbound, outbound or internal")


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{_show(value)} is not a yes/no value")


def _show(value: str) -> str:
    value = value.strip()
    return f"“{value[:40]}…”" if len(value) > 40 else f"“{value}”"


_PARSERS = {
    "id": _guid,
    "caller_number": _by_rule(rules.NUMBER),
    "called_number": _by_rule(rules.NUMBER),
    "caller_name": _by_rule(rules.NAME),
    "called_name": _by_rule(rules.NAME),
    "started_at": parse_time,
    "ended_at": _optional_time,
    "direction": _direction,
    "native_id": _by_rule(rules.IDENTIFIER),
    "platform_call_id": _by_rule(rules.IDENTIFIER),
    "keep": _flag,
}
