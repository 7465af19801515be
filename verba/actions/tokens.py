"""RequestToken and ReleaseToken: a user's session on top of an API key."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework.request import Request

from apikeys.services import release_token, request_token
from verba.actions import Action, Context, KeyPermission, TokenRule, register
from verba.answers import Answer, Placement, Value
from verba.auth import VIEW_PERMISSION
from verba.codes import ApiError, Code, Message, invalid
from verba.forms import ActionForm, Field
from verba.params import Params
from verba.throttling import token_retry_after

# What the login lockout may know of a RequestToken attempt: where it came from, never its
# parameters (they hold the API key and the password).
_ATTEMPT_META = ("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_USER_AGENT", "HTTP_ACCEPT")


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """User name and password from an `Authorization: Basic` header; None without one."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(Code.AUTHENTICATION_FAILED, Message.CREDENTIALS_WRONG) from None
    user_name, colon, password = decoded.partition(":")
    if not colon:
        raise ApiError(Code.AUTHENTICATION_FAILED, Message.CREDENTIALS_WRONG)
    return user_name, password


def given_credentials(params: Params) -> tuple[str | None, str | None]:
    """The `userName` and `password` parameters, as given (None when absent)."""
    return params.get("userName"), params.get("password")


class RequestTokenForm(ActionForm):
    credentials = Field(("userName", "password"), given_credentials)


def credentials(request: Request, given: tuple[str | None, str | None]) -> tuple[str, str]:
    basic = _basic_credentials(request)
    user_name, password = given
    if basic is not None:
        if user_name is not None or password is not None:
            raise invalid(Message.CREDENTIALS_TWICE)
        user_name, password = basic
    if not user_name or not password:
        raise ApiError(Code.AUTHENTICATION_FAILED, Message.CREDENTIALS_MISSING)
    if "\x00" in user_name or "\x00" in password:
        # Django's forms refuse NUL in both, and PostgreSQL's driver refuses to send one: wrong
        # credentials, answered without asking the database.
        raise ApiError(Code.AUTHENTICATION_FAILED, Message.CREDENTIALS_WRONG)
    return user_name, password


@register
class RequestToken(Action):
    name = "RequestToken"
    form = RequestTokenForm
    token_rule = TokenRule.NOT_NEEDED
    # A token serves whatever its key may do: query, change calls or upload them.
    key_permissions = frozenset(KeyPermission)

    def run(self, context: Context) -> Answer:
        user_name, password = credentials(
            context.request, context.form_as(RequestTokenForm).credentials
        )
        # Each attempt from here on costs a password hash: a rate of its own, per key and
        # per address, before anything is hashed.
        wait = token_retry_after(context.api_key.pk, context.client_address)
        if wait is not None:
            raise ApiError(
                Code.TOO_MANY_REQUESTS,
                Message.TOKEN_THROTTLED,
                headers={"Retry-After": str(wait)},
            )
        user = _authenticate(context.request._request, user_name, password)
        context.user_id = user.pk
        if not user.has_perm(VIEW_PERMISSION):
            raise ApiError(Code.ACCESS_DENIED, Message.USER_DENIED)
        session, token = request_token(context.api_key, user, client_address=context.client_address)
        expires = session.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Answer(
            type=self.name,
            values=(
                Value("token", "token", token, Placement.ATTRIBUTE),
                Value("expiresAt", "expiresAt", expires, Placement.JSON_ONLY),
            ),
        )


def _authenticate(request: HttpRequest, user_name: str, password: str) -> User:
    """The user these credentials name, or ApiError 5; counted by the login lockout.

    The authentication backends include django-axes, so a wrong password counts toward the
    same lockout as the login pages, and a locked-out user name or address is refused before
    any password is hashed. Axes sees a stand-in request: the real one's address, user agent
    and path, none of its parameters, and its lockout flag stays off the real request (whose
    answer is this API's, not the login pages' lockout page).
    """
    attempt = HttpRequest()
    attempt.method = "POST"
    attempt.path = attempt.path_info = request.path_info
    attempt.META = {name: request.META[name] for name in _ATTEMPT_META if name in request.META}
    # Axes records where an attempt came from by PATH_INFO: the lockout screen shows /verba/api.
    attempt.META["PATH_INFO"] = request.path_info
    # The model backend refuses inactive users, so they read as a wrong password.
    user = authenticate(attempt, username=user_name, password=password)
    if isinstance(user, User):  # the model backend's answer; None when refused
        return user
    if getattr(attempt, "axes_locked_out", False):
        raise ApiError(Code.AUTHENTICATION_FAILED, Message.LOCKED_OUT)
    raise ApiError(Code.AUTHENTICATION_FAILED, Message.CREDENTIALS_WRONG)


@register
class ReleaseToken(Action):
    name = "ReleaseToken"
    token_rule = TokenRule.ALWAYS
    key_permissions = frozenset(KeyPermission)
    # Ending access is never refused, even to a user who has since lost the permission.
    needs_view_permission = False

    def run(self, context: Context) -> Answer:
        if context.session is None:  # TokenRule.ALWAYS has made sure; kept for type checkers
            raise ApiError(Code.AUTHENTICATION_FAILED, Message.TOKEN_MISSING)
        release_token(context.session)
        return Answer(type=self.name)
