"""Writes to API keys and sessions. Each returns the plaintext secret only once."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apikeys import secrets
from apikeys.models import ApiKey, ApiSession
from directory.models import Group

DUPLICATE_KEY_MESSAGE = "This API key already exists."


class DuplicateApiKey(ValidationError):
    """The imported key exists already (perhaps imported by someone else a moment ago)."""

    def __init__(self) -> None:
        super().__init__({"key": DUPLICATE_KEY_MESSAGE})


class KeyChangedMeanwhile(Exception):
    """The key was rotated or revoked by someone else since it was read; nothing changed."""


def create_api_key(
    name: str,
    *,
    key: str | None = None,
    requires_auth: bool = False,
    networks: list[str] | None = None,
    can_query: bool = True,
    can_change: bool = False,
    can_ingest: bool = False,
    audit: bool = False,
    expires_at: datetime | None = None,
    created_by: User | None = None,
    groups: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is not stored anywhere.

    `key` imports an existing GUID (integrations migrating from Verba keep their key); one
    that exists already raises DuplicateApiKey, also when another import of it commits first.
    """
    if key is None:
        plaintext = secrets.new_key()
    else:
        normalized = secrets.normalize_key(key)
        if normalized is None:
            raise ValidationError({"key": "An API key must be a GUID."})
        plaintext = normalized
    api_key = ApiKey(
        name=name.strip(),
        key_digest=secrets.digest(plaintext),
        hint=secrets.key_hint(plaintext),
        requires_auth=requires_auth,
        networks=list(networks or []),
        can_query=can_query,
        can_change=can_change,
        can_ingest=can_ingest,
        audit=audit,
        expires_at=expires_at,
        created_by=created_by,
    )
    api_key.full_clean(exclude=["key_digest", "hint"])
    limit = _groups_named(groups) if groups else []
    if ApiKey.objects.filter(key_digest=api_key.key_digest).exists():
        raise DuplicateApiKey()
    try:
        # A savepoint: a concurrent import of the same key that commits first makes this
        # insert fail on the unique digest, and the caller's transaction stays usable.
        with transaction.atomic():
            api_key.save()
    except IntegrityError:
        if ApiKey.objects.filter(key_digest=api_key.key_digest).exists():
            raise DuplicateApiKey() from None
        raise
    if limit:
        api_key.groups.set(limit)
    return api_key, plaintext


def _groups_named(names: list[str]) -> list[Group]:
    found = {g.name: g for g in Group.objects.filter(name__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValidationError({"groups": f"No such group: {', '.join(unknown)}."})
    return [found[n] for n in names]


def rotate_api_key(api_key: ApiKey) -> str:
    """Give the key a new secret; the old one stops working at once.

    Compare-and-set: only a key whose secret is still the one `api_key` was read with, and
    that is not revoked, is rotated. When two administrators rotate one key at once, one
    wins and the other gets KeyChangedMeanwhile, so exactly one new secret exists and it is
    the one that was shown.
    """
    plaintext = secrets.new_key()
    new_digest, new_hint = secrets.digest(plaintext), secrets.key_hint(plaintext)
    updated = ApiKey.objects.filter(
        pk=api_key.pk, key_digest=api_key.key_digest, revoked_at__isnull=True
    ).update(key_digest=new_digest, hint=new_hint)
    if not updated:
        raise KeyChangedMeanwhile
    api_key.key_digest, api_key.hint = new_digest, new_hint
    return plaintext


def revoke_api_key(api_key: ApiKey) -> None:
    """Revoke for good; revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


# --- API tokens (RequestToken / ReleaseToken) -------------------------------------------

# `last_used_at` is written at most this often per key or session, so a busy integration
# does not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def request_token(
    api_key: ApiKey,
    user: User,
    *,
    client_address: str | None = None,
    now: datetime | None = None,
) -> tuple[ApiSession, str]:
    """Start a session for `user` through `api_key`; return it with its token (not stored)."""
    now = now or timezone.now()
    token = secrets.new_token()
    session = ApiSession.objects.create(
        token_digest=secrets.digest(token),
        api_key=api_key,
        user=user,
        expires_at=now + timedelta(seconds=settings.API_TOKEN_LIFETIME),
        last_used_at=now,
        client_address=client_address,
    )
    return session, token


def release_token(session: ApiSession, *, now: datetime | None = None) -> None:
    """End a session at once; releasing twice keeps the first time."""
    if session.released_at is None:
        session.released_at = now or timezone.now()
        session.save(update_fields=["released_at"])


def end_user_tokens(user: User, *, now: datetime | None = None) -> int:
    """End every token of `user` still open (their password changed, or they were
    deactivated); how many were ended."""
    return ApiSession.objects.filter(user=user, released_at__isnull=True).update(
        released_at=now or timezone.now()
    )


_touched: dict[tuple[str, int], datetime] = {}


def _touch(model: type[ApiKey] | type[ApiSession], obj: ApiKey | ApiSession, now: datetime) -> None:
    # The process-local memo spares the query; the conditional UPDATE keeps writes at one a
    # minute across processes.
    memo = (model.__name__, obj.pk)
    last = _touched.get(memo) or obj.last_used_at
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return
    if len(_touched) >= 10_000:
        _touched.clear()
    _touched[memo] = now
    obj.last_used_at = now
    model.objects.filter(pk=obj.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def touch_api_key(api_key: ApiKey, *, now: datetime | None = None) -> None:
    """Record that `api_key` was used (at most one write a minute)."""
    _touch(ApiKey, api_key, now or timezone.now())


def touch_session(session: ApiSession, *, now: datetime | None = None) -> None:
    """Record that `session`'s token was used (at most one write a minute)."""
    _touch(ApiSession, session, now or timezone.now())


def forget_last_used_memo() -> None:
    """Forget which keys and sessions this process has recently marked as used."""
    _touched.clear()


def prune_sessions(before: datetime) -> int:
    """Delete API tokens that expired or were released before `before`; returns how many.

    A token that stopped working longer ago than the retention is of no use to anyone: its
    requests stay in the audit trail, which names the key and user, not the token.
    """
    finished = Q(expires_at__lt=before) | Q(released_at__lt=before)
    return ApiSession.objects.filter(finished).delete()[0]
