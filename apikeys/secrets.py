"""Minting and digesting API keys and tokens.

Keys and tokens are high-entropy random values, so a keyed digest (HMAC-SHA-256 with a
server-side secret) is the right store: a database dump alone reveals nothing, and checking
one costs microseconds, unlike a password hash. Lookups go through the unique index on the
digest, so no comparison on the secret itself ever happens in Python.
"""

import hashlib
import hmac
import secrets
import string
import uuid

from django.conf import settings

from shared.guids import parse_guid

TOKEN_LENGTH = 32
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def digest(secret: str) -> str:
    """The hex HMAC-SHA-256 of a secret under settings.API_DIGEST_KEY."""
    return hmac.new(settings.API_DIGEST_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


def normalize_key(raw: str) -> str | None:
    """The canonical lower-case GUID form of a key, or None when it is not a GUID.

    Verba clients send keys in any letter case; matching ignores it. Only the canonical
    8-4-4-4-12 form counts (shared.guids), so one key has one spelling.
    """
    guid = parse_guid(raw.strip())
    return None if guid is None else str(guid)


def key_digest(raw_key: str) -> str | None:
    key = normalize_key(raw_key)
    return digest(key) if key else None


def new_key() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    """32 characters of [A-Za-z0-9] from the OS's CSPRNG: about 190 bits."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def key_hint(key: str) -> str:
    # The last four hex digits: enough to tell keys apart in a list, 16 of 122 random bits.
    return f"…{key[-4:]}"
