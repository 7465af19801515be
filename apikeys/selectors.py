"""Finding API keys and API sessions by the secret a client presents.

A secret is digested (HMAC-SHA-256) and looked up through the unique index on the digest;
nothing is ever compared in Python. Results are kept in process for LOOKUP_CACHE_SECONDS,
so a busy integration costs no key query on most requests. Any save or delete of a key or
session in this process empties the cache at once (revoking, rotating and releasing go
through `save()`); other processes see the change within LOOKUP_CACHE_SECONDS.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Generic, TypeVar

from django.db.models.signals import post_delete, post_save

from apikeys import secrets
from apikeys.models import ApiKey, ApiSession

LOOKUP_CACHE_SECONDS = 2.0
# Misses are cached too (a client retrying a wrong key costs no query), so the cache is
# bounded: past this many entries it starts over.
_MAX_ENTRIES = 10_000

T = TypeVar("T")


class _TtlCache(Generic[T]):
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, T | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, T | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: str, value: T | None) -> None:
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + LOOKUP_CACHE_SECONDS, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_keys: _TtlCache[ApiKey] = _TtlCache()
_sessions: _TtlCache[ApiSession] = _TtlCache()


def api_key_for_secret(raw_key: str) -> ApiKey | None:
    """The stored key for a presented key (any letter case), whatever its state; or None.

    A value that is not a GUID is None without a query.
    """
    key_digest = secrets.key_digest(raw_key)
    if key_digest is None:
        return None
    hit, api_key = _keys.get(key_digest)
    if not hit:
        api_key = ApiKey.objects.filter(key_digest=key_digest).first()
        _keys.put(key_digest, api_key)
    return api_key


def session_for_token(raw_token: str) -> ApiSession | None:
    """The session (with its user) a presented token belongs to, whatever its state; or None."""
    if len(raw_token) != secrets.TOKEN_LENGTH or not raw_token.isascii() or not raw_token.isalnum():
        return None
    token_digest = secrets.digest(raw_token)
    hit, session = _sessions.get(token_digest)
    if not hit:
        session = (
            ApiSession.objects.select_related("user").filter(token_digest=token_digest).first()
        )
        _sessions.put(token_digest, session)
    return session


def clear_lookup_cache(**_: Any) -> None:
    _keys.clear()
    _sessions.clear()


for _model in (ApiKey, ApiSession):
    post_save.connect(clear_lookup_cache, sender=_model, dispatch_uid=f"apikeys-cache-{_model}")
    post_delete.connect(clear_lookup_cache, sender=_model, dispatch_uid=f"apikeys-cache-d{_model}")
