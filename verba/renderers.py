"""The four response formats. Each renders an `Answer`, success or error alike.

An answer's records (`Answer.records`) are written by one small writer per format
(`XmlRecords`, `TextRecords`, `HtmlTable`, `json_records`), whatever the record: a call's
`<verbacdr>` and a `<verbamarker>` go through the same code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.template.loader import get_template
from django.urls import reverse
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from rest_framework.renderers import BaseRenderer

from calls.templatetags.call_csv import wrap_between_words
from shared.guids import parse_guid
from verba.answers import Answer, Item, Record, Records
from verba.negotiation import ResponseType
from verba.templatetags.verba_xml import xml


class _AnswerRenderer(BaseRenderer):
    charset: str | None = "UTF-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if not isinstance(data, Answer):
            raise TypeError("the Business API renders Answer objects only")
        return self.render_answer(data.cleaned())

    def render_answer(self, answer: Answer) -> bytes:
        raise NotImplementedError


class XmlRecords:
    """Records as XML lines, to sit inside `<Response>`: each record's children one per
    line (or all on the record's line when `inline`), an empty value as `<name/>`, the
    list element (when the answer has one) carrying `rowcount`."""

    def render(self, records: Records) -> str:
        body = "".join(self.record(r) for r in records.records)
        tag = records.list_tag
        if not tag:
            return body
        if not records.records:
            return f'<{tag} rowcount="0"/>\n'
        return f'<{tag} rowcount="{len(records.records)}">\n{body}</{tag}>\n'

    def record(self, record: Record) -> str:
        end = "" if record.inline else "\n"
        attributes = "".join(f' {a.name}="{xml(a.text)}"' for a in record.attributes)
        children = [self.element(i.name, i.text) for i in record.items]
        if record.metadata:
            fields = "".join(
                f'<field name="{xml(name)}">{xml(value)}</field>{end}'
                for name, value in record.metadata
            )
            children.append(f"<metadata>{end}{fields}</metadata>")
        inner = "".join(child + end for child in children)
        return f"<{record.tag}{attributes}>{end}{inner}</{record.tag}>\n"

    @staticmethod
    def element(name: str, text: str) -> str:
        return f"<{name}>{xml(text)}</{name}>" if text else f"<{name}/>"


class TextRecords:
    """A single record as `name=value` lines (metadata as `metadata.IDENTIFIER=value`);
    a list as one tab-separated row per record, no header."""

    # A tab or line break inside a value would split the line or the row.
    _FLAT = str.maketrans("\t\r\n", "   ")

    def render(self, records: Records) -> str:
        if records.single:
            lines = [line for r in records.records for line in self.lines(r)]
        else:
            lines = [self.row(r, records.text_columns) for r in records.records]
        return "".join(f"{line}\n" for line in lines)

    def lines(self, record: Record) -> list[str]:
        lines = [f"{i.name}={self.flat(i.text)}" for i in (*record.attributes, *record.items)]
        for name, value in record.metadata or ():
            lines.append(f"metadata.{self.flat(name)}={self.flat(value)}")
        return lines

    def row(self, record: Record, columns: tuple[str, ...]) -> str:
        texts = {i.name: i.text for i in record.items}
        names = columns or tuple(texts)
        return "\t".join(self.flat(texts[name]) for name in names)

    def flat(self, text: str) -> str:
        return text.translate(self._FLAT)


@dataclass(frozen=True)
class HtmlCell:
    # The escaped value, with break points in an id (see _BREAKABLE).
    html: SafeString
    # A call's id links to its page on the staff site (same host as the API).
    href: str = ""
    breakable: bool = False  # an id (see _BREAKABLE)


# Ids that may wrap at their hyphens (and before an "@"), never inside a group of digits:
# the break points of the staff pages' ids (one definition). A <wbr> leaves the text as is.
_BREAKABLE = {"ccdr_id", "native_id", "platform_call_id"}


@dataclass(frozen=True)
class HtmlRow:
    cells: list[HtmlCell]
    metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HtmlTable:
    """Records as an HTML table: one row per record, columns in record order (the
    attributes first), a last `metadata` column when metadata was asked for."""

    columns: list[SafeString]
    rows: list[HtmlRow]
    metadata: bool
    rowcount: int | None

    @classmethod
    def of(cls, records: Records) -> HtmlTable:
        first = records.records[0] if records.records else None
        columns = [_html_column(i.name) for i in (*first.attributes, *first.items)] if first else []
        rows = [
            HtmlRow([_html_cell(i) for i in (*r.attributes, *r.items)], r.metadata or ())
            for r in records.records
        ]
        return cls(
            columns=columns,
            rows=rows,
            metadata=any(r.metadata is not None for r in records.records),
            rowcount=None if records.single else len(records.records),
        )


def _html_cell(item: Item) -> HtmlCell:
    if item.name not in _BREAKABLE:
        return HtmlCell(conditional_escape(item.text))
    guid = parse_guid(item.text) if item.name == "ccdr_id" else None
    href = reverse("calls:detail", args=[guid]) if guid is not None else ""
    return HtmlCell(wrap_between_words(item.text), href, breakable=True)


def _html_column(name: str) -> SafeString:
    """A column's name, which may wrap after its underscores (`destination_<wbr>caller_id`)."""
    return mark_safe(conditional_escape(name).replace("_", "_<wbr>"))  # noqa: S308 - escaped


def json_records(records: Records) -> dict[str, Any]:
    """`{"call": {...}}` or `{"calls": [...]}`: the items with their JSON types."""
    objects = []
    for record in records.records:
        obj: dict[str, Any] = {i.name: i.value for i in (*record.attributes, *record.items)}
        if record.metadata is not None:
            obj["metadata"] = dict(record.metadata)
        objects.append(obj)
    return {records.json_name: objects[0] if records.single else objects}


class _TemplateRenderer(_AnswerRenderer):
    template_name = ""

    def render_answer(self, answer: Answer) -> bytes:
        # Template files are byte-exact: their line ends are the response's line ends.
        # The code as text: a template localizes a number, which costs more than the rest.
        context = {"answer": answer, "code": str(int(answer.code))}
        if answer.records is not None and not answer.code:
            context["records"] = self.records(answer.records)
        body = get_template(self.template_name).render(context)
        return body.encode("utf-8")

    def records(self, records: Records) -> Any:
        raise NotImplementedError


class XmlRenderer(_TemplateRenderer):
    media_type = "text/xml"
    format = ResponseType.XML
    template_name = "verba/response.xml"

    def records(self, records: Records) -> str:
        return mark_safe(XmlRecords().render(records))  # noqa: S308 - escaped by XmlRecords


class HtmlRenderer(_TemplateRenderer):
    media_type = "text/html"
    format = ResponseType.HTML
    template_name = "verba/response.html"

    def records(self, records: Records) -> HtmlTable:
        return HtmlTable.of(records)


class TextRenderer(_TemplateRenderer):
    media_type = "text/plain"
    format = ResponseType.TEXT
    template_name = "verba/response.txt"

    def records(self, records: Records) -> str:
        return TextRecords().render(records)


class JsonRenderer(_AnswerRenderer):
    media_type = "application/json"
    format = ResponseType.JSON
    charset = None  # JSON is UTF-8 by definition; the contract's header has no charset

    def render_answer(self, answer: Answer) -> bytes:
        body: dict[str, Any] = {
            "code": int(answer.code),
            "type": answer.type,
            "timeZone": answer.time_zone,
        }
        if answer.code:
            body["errorMessage"] = answer.message
        else:
            body.update({v.json_name: v.value for v in answer.values})
            if answer.records is not None:
                body.update(json_records(answer.records))
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


RENDERERS: list[type[BaseRenderer]] = [XmlRenderer, HtmlRenderer, TextRenderer, JsonRenderer]
