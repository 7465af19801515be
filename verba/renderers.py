"""The four response formats. Each renders an `Answer`, success or error alike."""

from __future__ import annotations

import json
from typing import Any

from django.template.loader import get_template
from rest_framework.renderers import BaseRenderer

from verba.answers import Answer
from verba.negotiation import ResponseType


class _AnswerRenderer(BaseRenderer):
    charset = "UTF-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if not isinstance(data, Answer):
            raise TypeError("the Business API renders Answer objects only")
        return self.render_answer(data.cleaned())

    def render_answer(self, answer: Answer) -> bytes:
        raise NotImplementedError


class _TemplateRenderer(_AnswerRenderer):
    template_name = ""

    def render_answer(self, answer: Answer) -> bytes:
        # Template files are byte-exact: their line ends are the response's line ends.
        body = get_template(self.template_name).render({"answer": answer, "code": int(answer.code)})
        return body.encode("utf-8")


class XmlRenderer(_TemplateRenderer):
    media_type = "text/xml"
    format = ResponseType.XML
    template_name = "verba/response.xml"


class HtmlRenderer(_TemplateRenderer):
    media_type = "text/html"
    format = ResponseType.HTML
    template_name = "verba/response.html"


class TextRenderer(_TemplateRenderer):
    media_type = "text/plain"
    format = ResponseType.TEXT
    template_name = "verba/response.txt"


class JsonRenderer(_AnswerRenderer):
    media_type = "application/json"
    format = ResponseType.JSON
    charset = None  # JSON is UTF-8 by definition; the contract's header has no charset

    def render_answer(self, answer: Answer) -> bytes:
        body: dict[str, Any] = {"code": int(answer.code), "type": answer.type}
        if answer.code:
            body["errorMessage"] = answer.message
        else:
            body.update({v.json_name: v.value for v in answer.values})
        return json.dumps(body, ensure_ascii=False).encode("utf-8")


RENDERERS: list[type[BaseRenderer]] = [XmlRenderer, HtmlRenderer, TextRenderer, JsonRenderer]
