"""Text that arrives from outside: characters XML cannot carry, and control characters.

Used by the API transports (answers, parameters), the call records (markers, metadata) and
the audit trail.
"""

from __future__ import annotations

import re

# Characters XML 1.0 cannot carry: C0 controls except tab, LF and CR; surrogates; U+FFFE/F.
# PostgreSQL cannot store the first of them (NUL) in a text column either.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"

# Every C0 control character and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def clean_text(value: str) -> str:
    """`value` with every character XML cannot carry replaced by U+FFFD.

    Replaced, not dropped, so a reader can see that something was there.
    """
    return _NOT_XML.sub(REPLACEMENT, value)


def needs_cleaning(value: str) -> bool:
    """Whether `clean_text` would change `value`."""
    return _NOT_XML.search(value) is not None


def has_control_character(value: str) -> bool:
    return _CONTROL.search(value) is not None
