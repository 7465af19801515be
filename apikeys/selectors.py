"""Finding API keys and API sessions by the secret a client presents.

A secret is digested (HMAC-SHA-256) and looked up through the unique index on the digest,
on every request: nothing is remembered between requests, so a key revoked or rotated, or
a token released, by any process is refused on the very next request (contract §4).

The instances carry only the columns the checks read (the *_FIELDS below); reading any
other field costs a query, which the query-count tests in verba/tests/ would notice.
"""

from __future__ import annotations

import hmac

from apikeys import secrets
from apikeys.models import ApiKey, ApiSession

# What the key checks (state, networks, permissions), last_used and the token match read.
KEY_FIELDS = (
    "id",
    "key_digest",
    "revoked_at",
    "expires_at",
    "networks",
    "requires_auth",
    "can_query",
    "can_change",
    "can_ingest",
    "last_used_at",
)
# What the token checks, the permission check and last_used read; the user's password
# hash and personal data stay in the database.
SESSION_FIELDS = (
    "id",
    "api_key_id",
    "user_id",
    "expires_at",
    "released_at",
    "last_used_at",
    "user__id",
    "user__is_active",
    "user__is_superuser",
)


def api_key_for_secret(raw_key: str, *, session: ApiSession | None = None) -> ApiKey | None:
    """The stored key for a presented key (any letter case), whatever its state; or None.

    A value that is not a GUID is None without a query. When `session` (from
    `session_for_token`, which brings its key along) belongs to the presented key, that key
    is returned without a second query.
    """
    key_digest = secrets.key_digest(raw_key)
    if key_digest is None:
        return None
    if session is not None and hmac.compare_digest(session.api_key.key_digest, key_digest):
        return session.api_key
    return ApiKey.objects.only(*KEY_FIELDS).filter(key_digest=key_digest).first()


def session_for_token(raw_token: str) -> ApiSession | None:
    """The session (with its user and its key) a presented token belongs to, whatever its
    state; or None. A value that cannot be a token is None without a query."""
    if len(raw_token) != secrets.TOKEN_LENGTH or not raw_token.isascii() or not raw_token.isalnum():
        return None
    return (
        ApiSession.objects.select_related("user", "api_key")
        .only(*SESSION_FIELDS, *(f"api_key__{name}" for name in KEY_FIELDS))
        .filter(token_digest=secrets.digest(raw_token))
        .first()
    )
