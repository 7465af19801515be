"""Choosing the response format from `responseType` alone (never the Accept header)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from verba.codes import Message
from verba.params import Params, request_params


class ResponseType(StrEnum):
    XML = "XML"
    HTML = "HTML"
    TEXT = "TEXT"
    JSON = "JSON"


def response_type(params: Params) -> tuple[ResponseType, str | None]:
    """The requested format, and the reason it cannot be honoured (then it is XML)."""
    if params.is_repeated("responseType"):
        return ResponseType.XML, Message.RESPONSE_TYPE_REPEATED
    raw = params.get("responseType")
    if raw is None:
        return ResponseType.XML, None
    value = raw.strip()
    # ASCII only: str.upper() would turn "JſON" (long s) into "JSON".
    if not value.isascii():
        return ResponseType.XML, Message.RESPONSE_TYPE
    try:
        return ResponseType(value.upper()), None
    except ValueError:
        return ResponseType.XML, Message.RESPONSE_TYPE


class ResponseTypeNegotiation(DefaultContentNegotiation):
    """Picks the renderer named by `responseType`; XML when missing or not understood.

    Body parsers are still chosen by Content-Type (inherited `select_parser`).
    """

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        wanted, _ = response_type(request_params(request))
        for renderer in renderers:
            if renderer.format == wanted:
                return renderer, renderer.media_type
        raise LookupError(f"no renderer for {wanted}")  # a wiring mistake, not a client error
