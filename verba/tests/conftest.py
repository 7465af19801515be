"""Helpers for the Business API tests: requests go through the full HTTP stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from verba.throttling import forget_everything

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """RequestToken checks passwords; the production hasher would make these tests crawl."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttle_buckets():
    """Each test starts with empty throttle buckets, as a new process would (the database
    store's rows go with each test's transaction)."""
    forget_everything()
    yield
    forget_everything()


@pytest.fixture
def api(client: Client):
    """Call /verba/api: api(action=..., apiKey=..., method="post", headers={...})."""

    def call(method: str = "get", headers: dict[str, str] | None = None, **params: Any):
        send = getattr(client, method)
        return send("/verba/api", params, headers=headers or {})

    return call


@pytest.fixture
def key(api_key):
    """The plaintext of an active key that may query and needs no token."""
    return api_key[1]


@pytest.fixture
def change_key() -> str:
    """The plaintext of a key that may change calls (and nothing else), without tokens."""
    from apikeys.services import create_api_key

    return create_api_key("CRM changes", can_query=False, can_change=True)[1]


@pytest.fixture
def token_change_key() -> str:
    """The plaintext of a key that may query and change calls, with a user token each time."""
    from apikeys.services import create_api_key

    return create_api_key("CRM with users", can_change=True, requires_auth=True)[1]
