"""The one GUID form callportal accepts from outside: canonical 8-4-4-4-12, any letter case.

`uuid.UUID` alone is too lenient for ids and keys that arrive as text: it also takes `urn:`
and `{…}` forms, dashes anywhere and non-ASCII digits, so one id would have many spellings.
"""

from __future__ import annotations

import re
import uuid

# ASCII hex digits in any letter case, nothing around it (not even the newline `$` allows).
GUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII
)


def parse_guid(raw: str) -> uuid.UUID | None:
    """The GUID `raw` spells in the canonical form (any letter case), else None."""
    if GUID.fullmatch(raw) is None:
        return None
    return uuid.UUID(raw)
