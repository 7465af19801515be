"""The record writers every record-answering action shares (verba/renderers.py): records
inside a non-empty `<Response>`, one child per line or inline, metadata, lists with
`rowcount`, in all four formats. Actions build `Records`; these tests render them directly,
because no single action answers every shape."""

import json

from verba.answers import Answer, Item, Record, Records
from verba.codes import Code
from verba.renderers import HtmlRenderer, JsonRenderer, TextRenderer, XmlRenderer


def _marker(name: str, start: int, end: int) -> Record:
    return Record(
        tag="verbamarker",
        items=(Item("name", name), Item("start", start), Item("end", end)),
        inline=True,
    )


def _cdr(metadata=None) -> Record:
    return Record(
        tag="verbacdr",
        attributes=(Item("state", 1),),
        items=(Item("ccdr_id", "c-1"), Item("end_time", None), Item("media", True)),
        metadata=metadata,
    )


def _render(renderer, answer: Answer) -> str:
    return renderer().render(answer).decode()


def test_inline_records_sit_in_the_response_one_per_line_as_verbas_marker_sample():
    answer = Answer(
        type="GetMarkers", records=Records((_marker("Sale", 16700, 65400),), json_name="markers")
    )
    assert _render(XmlRenderer, answer) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<VerbaApi>\n"
        '<Response code="0" type="GetMarkers">\n'
        "<verbamarker><name>Sale</name><start>16700</start><end>65400</end></verbamarker>\n"
        "</Response>\n"
        "</VerbaApi>\n"
    )
    assert json.loads(_render(JsonRenderer, answer)) == {
        "code": 0,
        "type": "GetMarkers",
        "timeZone": "UTC",
        "markers": [{"name": "Sale", "start": 16700, "end": 65400}],
    }
    assert _render(TextRenderer, answer) == "Sale\t16700\t65400\n"


def test_no_records_without_a_list_element_is_a_self_closing_response():
    answer = Answer(type="GetMarkers", records=Records((), json_name="markers"))
    assert _render(XmlRenderer, answer) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<VerbaApi>\n"
        '<Response code="0" type="GetMarkers"/>\n'
        "</VerbaApi>\n"
    )
    assert _render(TextRenderer, answer) == ""
    assert json.loads(_render(JsonRenderer, answer))["markers"] == []


def test_metadata_follows_the_fields_one_element_per_line_escaped():
    record = _cdr(metadata=(("Ticket", "T-1 & <2>"), ("crm_id", 'say "hi"')))
    answer = Answer(type="GetCallInformation", records=Records((record,), "call", single=True))
    assert _render(XmlRenderer, answer) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<VerbaApi>\n"
        '<Response code="0" type="GetCallInformation">\n'
        '<verbacdr state="1">\n'
        "<ccdr_id>c-1</ccdr_id>\n"
        "<end_time/>\n"
        "<media>true</media>\n"
        "<metadata>\n"
        '<field name="Ticket">T-1 &amp; &lt;2&gt;</field>\n'
        '<field name="crm_id">say &quot;hi&quot;</field>\n'
        "</metadata>\n"
        "</verbacdr>\n"
        "</Response>\n"
        "</VerbaApi>\n"
    )
    assert json.loads(_render(JsonRenderer, answer))["call"] == {
        "state": 1,
        "ccdr_id": "c-1",
        "end_time": None,
        "media": True,
        "metadata": {"Ticket": "T-1 & <2>", "crm_id": 'say "hi"'},
    }
    assert _render(TextRenderer, answer) == (
        "state=1\nccdr_id=c-1\nend_time=\nmedia=true\n"
        'metadata.Ticket=T-1 & <2>\nmetadata.crm_id=say "hi"\n'
    )
    html = _render(HtmlRenderer, answer)
    assert '<th scope="col">metadata</th>' in html
    assert "<td>Ticket: T-1 &amp; &lt;2&gt;<br>crm_id: say &quot;hi&quot;</td>" in html


def test_a_list_element_carries_the_rowcount_of_the_page():
    records = Records((_cdr(), _cdr()), json_name="calls", list_tag="verbacdrlist")
    xml = _render(XmlRenderer, Answer(type="SearchCalls", records=records))
    assert '<Response code="0" type="SearchCalls">\n<verbacdrlist rowcount="2">\n' in xml
    assert xml.endswith("</verbacdr>\n</verbacdrlist>\n</Response>\n</VerbaApi>\n")
    assert '<p class="rowcount">2 records</p>' in _render(
        HtmlRenderer, Answer(type="SearchCalls", records=records)
    )


def test_an_empty_list_element_closes_itself():
    records = Records((), json_name="calls", list_tag="verbacdrlist")
    assert _render(XmlRenderer, Answer(type="SearchCalls", records=records)) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<VerbaApi>\n"
        '<Response code="0" type="SearchCalls">\n'
        '<verbacdrlist rowcount="0"/>\n'
        "</Response>\n"
        "</VerbaApi>\n"
    )


def test_an_error_ignores_records():
    answer = Answer(
        type="GetMarkers",
        code=Code.NOT_FOUND,
        message="No.",
        records=Records((_marker("a", 0, 1),), "m"),
    )
    assert "<verbamarker>" not in _render(XmlRenderer, answer)
    assert _render(TextRenderer, answer) == "ERROR 2: No.\n"


def test_characters_xml_cannot_carry_are_replaced_in_records_too():
    answer = Answer(type="GetMarkers", records=Records((_marker("a\x00b", 0, 1),), "markers"))
    assert "<name>a\ufffdb</name>" in _render(XmlRenderer, answer)
