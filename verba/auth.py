"""Who is calling: the API key, its network restrictions and the user token."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.http import HttpRequest

from apikeys.models import ApiKey, ApiSession
from apikeys.selectors import key_scope
from apikeys.services import touch_api_key
from directory.scopes import Scope, user_id_scope
from directory.selectors import access_of, time_zone_name_of, zone_name_or_default
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


# Code 6 when the key lacks the one permission an action needs.
_KEY_DENIED = {
    "can_query": Message.KEY_DENIED,
    "can_change": Message.KEY_MAY_NOT_CHANGE,
    "can_ingest": Message.KEY_MAY_NOT_INGEST,
}
# Code 6 when a token's user lacks a permission an action needs.
_USER_DENIED = {
    VIEW_PERMISSION: Message.USER_DENIED,
    "calls.change_call": Message.USER_MAY_NOT_CHANGE,
    "calls.delete_call": Message.USER_MAY_NOT_DELETE,
    "calls.add_call": Message.USER_MAY_NOT_ADD,
}


def check_key(
    raw_key: str | None,
    api_key: ApiKey | None,
    address: str | None,
    permissions: Collection[str] = ("can_query",),
) -> ApiKey:
    """The usable key the request presents (looked up beforehand), or ApiError 4 / 6.

    `permissions` names the key's permission fields of which the action needs one.
    """
    if raw_key is None:
        raise ApiError(Code.INVALID_KEY, Message.KEY_MISSING)
    # Unknown, malformed, revoked and expired read alike: nothing tells a prober more.
    if api_key is None or not api_key.is_usable:
        raise ApiError(Code.INVALID_KEY, Message.KEY_INVALID)
    if not api_key.allows_address(address):
        raise ApiError(Code.ACCESS_DENIED, Message.ADDRESS_DENIED)
    if not any(getattr(api_key, name) for name in permissions):
        only = next(iter(permissions)) if len(permissions) == 1 else "can_query"
        raise ApiError(Code.ACCESS_DENIED, _KEY_DENIED.get(only, Message.KEY_DENIED))
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


def check_user_permission(session: ApiSession, permissions: Iterable[str] = ()) -> None:
    """ApiError 6 when the token's user may not (any longer) view calls, or lacks one of
    `permissions`.

    The session's lookup has usually answered for calls.view_call already, in the same
    query (`session_read(…, permission=VIEW_PERMISSION)`); otherwise Django is asked.
    """
    checked = getattr(session, "checked_permissions", {})
    for permission in (VIEW_PERMISSION, *permissions):
        allowed = checked.get(permission)
        if allowed is None:
            allowed = session.user.has_perm(permission)
        if not allowed:
            raise ApiError(Code.ACCESS_DENIED, _USER_DENIED.get(permission, Message.USER_DENIED))


def request_scope(api_key: ApiKey, session: ApiSession | None) -> Scope:
    """The calls this request may see (access.md §2): a key limited to groups sees their
    calls; a token's user sees the user's scope; with both, both must hold."""
    scope = key_scope(api_key)
    if session is not None:
        user = session.user
        # Read with the session (apikeys.selectors); None when the user has no profile.
        if hasattr(session, "user_access"):
            access = session.user_access or access_of(None)
        else:
            access = access_of(user)
        scope = scope & user_id_scope(user.pk, access=access, is_superuser=user.is_superuser)
    return scope


def request_zone_name(session: ApiSession | None) -> str:
    """The zone of the request's times (§7.0): the token user's, else UTC."""
    if session is None:
        return "UTC"
    user = session.user
    if hasattr(session, "user_time_zone"):
        return zone_name_or_default(session.user_time_zone)
    return time_zone_name_of(user)
