"""Finding API keys and API sessions by the secret a client presents.

A secret is digested (HMAC-SHA-256) and looked up through the unique index on the digest,
on every request: nothing is remembered between requests, so a key revoked or rotated, or
a token released, by any process is refused on the very next request (contract §4).

The instances carry only the columns the checks read (the *_FIELDS below); reading any
other field costs a query, which the query-count tests in verba/tests/ would notice.

Both lookups run on every Business API request, so their SQL is written once
(shared/sql.py) instead of compiled by the ORM per request. A token's lookup brings
its key, its user and whether that user holds a given permission in the same round trip.
They are reads (`key_read`, `session_read`): the Business API sends one together with the
call lookup its action needs (`shared.sql.run_together`).
"""

from __future__ import annotations

import hmac
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet

from apikeys import secrets
from apikeys.models import ApiKey, ApiSession
from directory.models import Access, Profile
from directory.scopes import EVERYTHING, Scope, StatementOwner, groups_scope
from directory.selectors import access_of
from shared.sql import ModelColumns, Read, VendorSql, run

# What the key checks (state, networks, permissions), last_used and the token match read,
# and the name the access log records.
KEY_FIELDS = (
    "id",
    "name",
    "key_digest",
    "revoked_at",
    "expires_at",
    "networks",
    "requires_auth",
    "can_query",
    "can_change",
    "can_ingest",
    "audit",
    "last_used_at",
)
# What the token checks and last_used read; of the user only what the checks and the access
# log need: the password hash and personal data stay in the database.
SESSION_FIELDS = ("id", "api_key_id", "user_id", "expires_at", "released_at", "last_used_at")
USER_FIELDS = ("id", "username", "is_active", "is_superuser")

KEY = ModelColumns(ApiKey, KEY_FIELDS)
SESSION = ModelColumns(ApiSession, SESSION_FIELDS)
USER = ModelColumns(get_user_model(), USER_FIELDS)


def _limited_sql(connection: BaseDatabaseWrapper, key_alias: str) -> str:
    """Whether the key (`key_alias`) is limited to directory groups: an index probe."""
    qn = connection.ops.quote_name
    through = ApiKey.groups.through._meta
    return (
        f"EXISTS (SELECT 1 FROM {qn(through.db_table)} g"
        f" WHERE g.{qn('apikey_id')} = {key_alias}.{qn('id')})"
    )


def _key_sql(connection: BaseDatabaseWrapper) -> str:
    qn = connection.ops.quote_name
    return (
        f"SELECT {KEY.select_list(connection, 'k')}, {_limited_sql(connection, 'k')}"
        f" FROM {qn(KEY.table)} k WHERE k.{qn('key_digest')} = %s"
    )


_KEY_BY_DIGEST = VendorSql(_key_sql, "apikeys_apikey_by_key_digest", prepare=True)


def _session_sql(connection: BaseDatabaseWrapper) -> str:
    """The session of a token digest with its user and key, and whether the user holds the
    permission (app label, codename) given: as Django's ModelBackend decides it, a
    superuser, or the permission granted to the user or to one of the user's groups."""
    qn = connection.ops.quote_name
    user_model = get_user_model()
    user_perms = user_model.user_permissions.through._meta
    user_groups = user_model.groups.through._meta
    group_perms = Group.permissions.through._meta
    permission = (
        f"JOIN {qn(Permission._meta.db_table)} p ON p.{qn('id')} = x.{qn('permission_id')} "
        f"JOIN {qn('django_content_type')} t ON t.{qn('id')} = p.{qn('content_type_id')} "
        f"WHERE t.{qn('app_label')} = %s AND p.{qn('codename')} = %s"
    )
    granted = (
        f"u.{qn('is_superuser')}"
        f" OR EXISTS (SELECT 1 FROM {qn(user_perms.db_table)} x {permission}"
        f" AND x.{qn('user_id')} = u.{qn('id')})"
        f" OR EXISTS (SELECT 1 FROM {qn(user_groups.db_table)} g"
        f" JOIN {qn(group_perms.db_table)} x ON x.{qn('group_id')} = g.{qn('group_id')}"
        f" {permission} AND g.{qn('user_id')} = u.{qn('id')})"
    )
    # The user's directory profile (access level, time zone), when there is one.
    return (
        f"SELECT {SESSION.select_list(connection, 's')}, {USER.select_list(connection, 'u')},"
        f" {KEY.select_list(connection, 'k')}, {_limited_sql(connection, 'k')},"
        f" p.{qn('access')}, p.{qn('time_zone')}, CASE WHEN {granted} THEN 1 ELSE 0 END"
        f" FROM {qn(SESSION.table)} s"
        f" JOIN {qn(USER.table)} u ON u.{qn('id')} = s.{qn('user_id')}"
        f" JOIN {qn(KEY.table)} k ON k.{qn('id')} = s.{qn('api_key_id')}"
        f" LEFT JOIN {qn(Profile._meta.db_table)} p ON p.{qn('user_id')} = u.{qn('id')}"
        f" WHERE s.{qn('token_digest')} = %s"
    )


_SESSION_BY_DIGEST = VendorSql(_session_sql, "apikeys_apisession_by_token_digest", prepare=True)


def _token_owner_sql(connection: BaseDatabaseWrapper) -> str:
    """The id of a token digest's user when that user's scope may be `own` (directory.scopes.
    StatementOwner); the profile's access defaults as the directory says (a parameter)."""
    qn = connection.ops.quote_name
    return (
        f"SELECT s.{qn('user_id')} FROM {qn(SESSION.table)} s"
        f" JOIN {qn(USER.table)} u ON u.{qn('id')} = s.{qn('user_id')}"
        f" LEFT JOIN {qn(Profile._meta.db_table)} p ON p.{qn('user_id')} = u.{qn('id')}"
        f" WHERE s.{qn('token_digest')} = %s AND NOT u.{qn('is_superuser')}"
        f" AND COALESCE(p.{qn('access')}, %s) = %s"
    )


# Only ever part of a call lookup's statement (calls.selectors), never run on its own.
_TOKEN_OWNER = VendorSql(_token_owner_sql, "token_owner", prepare=True)


def token_owner(raw_token: str) -> StatementOwner | None:
    """The token's user as a call lookup finds it inside its own statement, to check the
    user's `own` scope in the same round trip; None when the value cannot be a token."""
    if not _may_be_token(raw_token):
        return None
    params = (secrets.digest(raw_token), str(access_of(None)), str(Access.OWN))
    return StatementOwner(_TOKEN_OWNER, params)


def _may_be_token(raw_token: str) -> bool:
    return len(raw_token) == secrets.TOKEN_LENGTH and raw_token.isascii() and raw_token.isalnum()


def key_read(raw_key: str) -> Read[ApiKey | None] | None:
    """The stored key for a presented key (any letter case), whatever its state, as a read
    (to run alone or with another); None when the value is not a GUID (no query needed)."""
    key_digest = secrets.key_digest(raw_key)
    if key_digest is None:
        return None
    return Read(_KEY_BY_DIGEST, (key_digest,), _one_key)


def api_key_for_secret(raw_key: str) -> ApiKey | None:
    """The stored key for a presented key (any letter case), whatever its state; or None
    (a value that is not a GUID without a query)."""
    read = key_read(raw_key)
    return None if read is None else run(connection, read)


def key_digest_of(read: Read[ApiKey | None]) -> str:
    """The digest `key_read` looks the key up by (for a query that needs the same key)."""
    digest: str = read.params[0]
    return digest


def key_of(read: Read[ApiKey | None], *, session: ApiSession | None) -> ApiKey | None:
    """`key_read`'s answer: `session`'s own key, which `session_read` brought along, when it
    is the one presented (no second query); else the read, run."""
    if session is not None and hmac.compare_digest(session.api_key.key_digest, key_digest_of(read)):
        return session.api_key
    return run(connection, read)


def _one_key(rows: list[tuple[Any, ...]]) -> ApiKey | None:
    found = KEY.instances(rows, connection)
    if not found:
        return None
    found[0].limited_to_groups = bool(rows[0][len(KEY)])
    return found[0]


def session_read(raw_token: str, *, permission: str) -> Read[ApiSession | None] | None:
    """The session (with its user and its key) a presented token belongs to, whatever its
    state, as a read; None when the value cannot be a token (no query needed).

    `permission` ("app_label.codename") is checked for the session's user in the same
    query; the answer is in `session.checked_permissions`.
    """
    if not _may_be_token(raw_token):
        return None
    app_label, codename = permission.split(".", 1)
    params = (app_label, codename, app_label, codename, secrets.digest(raw_token))
    return Read(_SESSION_BY_DIGEST, params, partial(_one_session, permission))


def _one_session(permission: str, rows: list[tuple[Any, ...]]) -> ApiSession | None:
    if not rows:
        return None
    row = rows[0]
    session = SESSION.instances([row], connection)[0]
    session.user = USER.instances([row], connection, start=len(SESSION))[0]
    at = len(SESSION) + len(USER)
    session.api_key = KEY.instances([row], connection, start=at)[0]
    session.api_key.limited_to_groups = bool(row[at + len(KEY)])
    # None without a profile: the directory's defaults apply (directory.selectors).
    session.user_access = row[at + len(KEY) + 1]
    session.user_time_zone = row[at + len(KEY) + 2]
    session.checked_permissions = {permission: bool(row[-1])}
    return session


def key_groups(api_key: ApiKey) -> QuerySet[Any]:
    """The ids of the directory groups the key is limited to, as a subquery."""
    return ApiKey.groups.through.objects.filter(apikey_id=api_key.pk).values("group_id")


def is_limited_to_groups(api_key: ApiKey) -> bool:
    """Whether the key sees only its groups' calls; read with the key by the lookups above,
    else asked."""
    limited = getattr(api_key, "limited_to_groups", None)
    if limited is None:
        limited = api_key.groups.exists()
        api_key.limited_to_groups = limited
    return bool(limited)


def key_scope(api_key: ApiKey) -> Scope:
    """The calls a key sees (access.md §2): its groups' members' and supervisors' when it
    is limited to groups, else every call."""
    if is_limited_to_groups(api_key):
        return groups_scope(key_groups(api_key))
    return EVERYTHING
