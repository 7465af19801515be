"""Signing secrets and Standard Webhooks signatures.

A secret is `whsec_` and the base64 of 32 random bytes (the Standard Webhooks form, which
its libraries accept as is). The signature is the `standardwebhooks` package's own
(`v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`); after a rotation the old secret
signs beside the new one, space-separated, until it expires.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signature(signing_secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,…` per secret, space-separated."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(msg_id, moment, body) for secret in signing_secrets)


def headers(signing_secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(signing_secrets, msg_id, timestamp, body),
        "Content-Type": "application/json",
        "User-Agent": "callportal-webhooks",
    }
