"""Parameters several actions share that are not about naming a call."""

from verba.codes import invalid
from verba.forms import Field, field
from verba.params import Params

RETURN_METADATA_MALFORMED = "The returnMetadata parameter must be 1 or 0 (or true or false)."


def read_return_metadata(params: Params, name: str) -> bool:
    """`returnMetadata=1` (or `true`, any letter case) asks for each record's custom
    metadata; `0`/`false` or no value does not; anything else is code 1."""
    raw = params.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise invalid(RETURN_METADATA_MALFORMED)


def return_metadata() -> Field[bool]:
    """The `returnMetadata` field of an action's form."""
    return field("returnMetadata", read_return_metadata)
