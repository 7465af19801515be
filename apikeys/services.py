"""Writes to API keys and sessions. Each returns the plaintext secret only once."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apikeys import secrets
from apikeys.models import ApiKey


def create_api_key(
    name: str,
    *,
    key: str | None = None,
    requires_auth: bool = False,
    networks: list[str] | None = None,
    can_query: bool = True,
    can_ingest: bool = False,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is not stored anywhere.

    `key` imports an existing GUID (integrations migrating from Verba keep their key).
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
        can_ingest=can_ingest,
        expires_at=expires_at,
        created_by=created_by,
    )
    api_key.full_clean(exclude=["key_digest", "hint"])
    if ApiKey.objects.filter(key_digest=api_key.key_digest).exists():
        raise ValidationError({"key": "This API key already exists."})
    api_key.save()
    return api_key, plaintext


def rotate_api_key(api_key: ApiKey) -> str:
    """Give the key a new secret; the old one stops working at once."""
    plaintext = secrets.new_key()
    with transaction.atomic():
        api_key.key_digest = secrets.digest(plaintext)
        api_key.hint = secrets.key_hint(plaintext)
        api_key.save(update_fields=["key_digest", "hint"])
    return plaintext


def revoke_api_key(api_key: ApiKey) -> None:
    """Revoke for good; revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
