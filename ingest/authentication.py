"""Who is writing: the API key in the X-Api-Key header, and what it may do."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apikeys.models import ApiKey
from apikeys.selectors import api_key_for_secret
from apikeys.services import touch_api_key
from shared.clients import client_address

HEADER = "X-Api-Key"
INVALID_KEY_MESSAGE = "Invalid API key: it is unknown, revoked or expired."
MISSING_KEY_MESSAGE = "This API needs an API key in the X-Api-Key header."
NO_INGEST_MESSAGE = "This API key may not ingest calls."
NETWORK_MESSAGE = "This API key may not be used from this address."
NO_AUDIT_MESSAGE = (
    "This API key may not read the audit feeds: they need a key created with --audit."
)


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
        touch_api_key(key)
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


class CanReadAuditFeeds(BasePermission):
    """The key was created with --audit (ApiKey.audit) and the client is inside its network
    restrictions: 401 without a key, 403 for any other key."""

    def has_permission(self, request: Request, view: object) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            raise NotAuthenticated(MISSING_KEY_MESSAGE)
        if not key.audit:
            raise PermissionDenied(NO_AUDIT_MESSAGE)
        if not key.allows_address(client_address(request)):
            raise PermissionDenied(NETWORK_MESSAGE)
        return True
