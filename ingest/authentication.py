"""Who is writing: the API key in the X-Api-Key header, and what it may do."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apikeys.models import ApiKey
from apikeys.networks import address_allowed, parse_network
from apikeys.selectors import api_key_for_secret

HEADER = "X-Api-Key"
INVALID_KEY_MESSAGE = "Invalid API key: it is unknown, revoked or expired."
MISSING_KEY_MESSAGE = "This API needs an API key in the X-Api-Key header."
NO_INGEST_MESSAGE = "This API key may not ingest calls."
NETWORK_MESSAGE = "This API key may not be used from this address."

# Recording "last used" costs a write; once a minute per key is plenty for an admin list.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyAuthentication(BaseAuthentication):
    """X-Api-Key: <GUID> of an active key. Sets request.auth to the ApiKey, request.user None."""

    def authenticate(self, request: Request) -> tuple[None, ApiKey] | None:
        raw = request.headers.get(HEADER)
        if raw is None:
            return None
        key = api_key_for_secret(raw)
        if key is None or not key.is_usable:
            # One sentence for every failure: never hint that a key "almost" matched.
            raise AuthenticationFailed(INVALID_KEY_MESSAGE)
        _note_use(key)
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a missing or bad key.
        return f'ApiKey header="{HEADER}"'


class CanIngest(BasePermission):
    """The key has the ingest permission and the client is inside its network restrictions."""

    def has_permission(self, request: Request, view: object) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if not key.can_ingest:
            raise PermissionDenied(NO_INGEST_MESSAGE)
        if not key.allows_address(client_address(request)):
            raise PermissionDenied(NETWORK_MESSAGE)
        return True


def client_address(request: Request) -> str | None:
    """The client's IP: the peer, or the last untrusted hop of X-Forwarded-For behind proxies."""
    peer = request.META.get("REMOTE_ADDR")
    proxies = [parse_network(p) for p in settings.TRUSTED_PROXIES]
    if not proxies or not peer or not address_allowed(peer, proxies):
        return peer
    forwarded = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    # Walk from the nearest hop outwards; the first address that is not one of our proxies
    # is the client (anything further left could be forged by it).
    for hop in reversed([h for h in forwarded if h]):
        if not address_allowed(hop, proxies):
            return hop
    return peer


def _note_use(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
