"""Who is calling: the API key, its network restrictions and the user token."""

from __future__ import annotations

from django.http import HttpRequest

from apikeys.models import ApiKey, ApiSession
from apikeys.services import touch_api_key
from verba.codes import ApiError, Code, Message, invalid
from verba.params import Params

VIEW_PERMISSION = "calls.view_call"


def presented_secret(
    params: Params, request: HttpRequest, name: str, header: str, conflict: str
) -> str | None:
    """The secret from its parameter or its header; both at once is code 1."""
    from_param = params.get(name)
    from_header = request.META.get(header) or None
    if from_param is not None and from_header is not None:
        raise invalid(conflict)
    return from_param if from_param is not None else from_header


def check_key(raw_key: str | None, api_key: ApiKey | None, address: str | None) -> ApiKey:
    """The usable key the request presents (looked up beforehand), or ApiError 4 / 6."""
    if raw_key is None:
        raise ApiError(Code.INVALID_KEY, Message.KEY_MISSING)
    # Unknown, malformed, revoked and expired read alike: nothing tells a prober more.
    if api_key is None or not api_key.is_usable:
        raise ApiError(Code.INVALID_KEY, Message.KEY_INVALID)
    if not api_key.allows_address(address):
        raise ApiError(Code.ACCESS_DENIED, Message.ADDRESS_DENIED)
    if not api_key.can_query:
        raise ApiError(Code.ACCESS_DENIED, Message.KEY_DENIED)
    touch_api_key(api_key)
    return api_key


def check_token(
    raw_token: str | None, session: ApiSession | None, api_key: ApiKey, *, required: bool
) -> ApiSession | None:
    """The live session of the presented token, looked up beforehand (None when there is no
    token and none is needed), or ApiError 5."""
    if raw_token is None:
        if required:
            raise ApiError(Code.AUTHENTICATION_FAILED, Message.TOKEN_MISSING)
        return None
    if (
        session is None
        or session.api_key_id != api_key.pk
        or not session.is_active
        or not session.user.is_active
    ):
        raise ApiError(Code.AUTHENTICATION_FAILED, Message.TOKEN_INVALID)
    return session


def check_user_permission(session: ApiSession) -> None:
    """ApiError 6 when the token's user may not (any longer) view calls.

    The session's lookup has usually answered this already, in the same query
    (`session_for_token(…, permission=VIEW_PERMISSION)`); otherwise Django is asked.
    """
    checked = getattr(session, "checked_permissions", {})
    allowed = checked.get(VIEW_PERMISSION)
    if allowed is None:
        allowed = session.user.has_perm(VIEW_PERMISSION)
    if not allowed:
        raise ApiError(Code.ACCESS_DENIED, Message.USER_DENIED)
