"""Strict reading of the text that arrives from outside: GUIDs and characters XML cannot carry.

Shared by the API transports (answers, parameters) and the audit trail, which may not import
the transports. Python's own parsers are too lenient here: `uuid.UUID` accepts `urn:` and
`{…}` forms, dashes anywhere and non-ASCII digits (int() reads a full-width ８ as 8), and
`str.upper()` maps ſ to S.
"""

from __future__ import annotations

import re
import uuid

# Characters XML 1.0 cannot carry: C0 controls except tab, LF and CR; surrogates; U+FFFE/F.
# PostgreSQL cannot store the first of them (NUL) in a text column either.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"

# The canonical 8-4-4-4-12 form, ASCII hex digits in any letter case, nothing around it.
_GUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII
)
# Every C0 control character and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def clean_text(value: str) -> str:
    """`value` with every character XML cannot carry replaced by U+FFFD.

    Replaced, not dropped, so a reader can see that something was there.
    """
    return _NOT_XML.sub(REPLACEMENT, value)


def has_control_character(value: str) -> bool:
    return _CONTROL.search(value) is not None


def parse_guid(raw: str) -> uuid.UUID | None:
    """The GUID `raw` spells in the canonical form (any letter case), else None."""
    if _GUID.fullmatch(raw) is None:
        return None
    return uuid.UUID(raw)
