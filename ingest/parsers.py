"""The ingestion API's JSON parser."""

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

TOO_DEEP_MESSAGE = "JSON parse error - the document is nested too deeply."


class JsonParser(JSONParser):
    """DRF's JSON parser, with a document nested deeper than Python's recursion limit
    (`[[[[…` 5,000 deep) answered 400 like any other malformed body, not 500."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP_MESSAGE) from None
