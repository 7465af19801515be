"""Which calls a user, or an API key, may see: the one definition (access.md §2).

A call is in the scope of user U when U's access is `all` (or U is a superuser), or a party
number of the call (caller or called) is owned by U at the call's start time, or by a member
of a group U supervises (with the member's own ownership periods). A key limited to groups
sees the calls owned, so, by those groups' members and supervisors. With both a key and a
token, both must hold. Outside its scope a call does not exist: every surface filters with
`Scope.condition()` and answers as for an unknown call.

The condition is one EXISTS over extensions, looked up by number from the index on
`(number, user)`, its owners an uncorrelated subquery the database runs once. It is written
on the call's field names (`caller_number`, `called_number`, `started_at`), so this room
never imports `calls`.

`Scope.admits()` asks the same question of a call not yet read from the database (the
`status=next` wait decides without a connection); it loads the owners' extensions with the
same owner rule, and the scope tests check both answers agree call by call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, OuterRef, Q, QuerySet

from directory.models import Access, Extension, Group
from directory.selectors import access_of
from shared.sql import VendorSql


@dataclass(frozen=True)
class Owners:
    """A set of users whose extensions count: a subquery of user ids, built on demand."""

    # ("user", id): the user and the members of the groups the user supervises.
    # ("groups", queryset of group ids): the members and supervisors of those groups.
    # ("members", queryset of group ids): the members of those groups only.
    kind: str
    value: Any

    def extension_condition(self) -> Q:
        """Extensions owned by these users, as a condition on Extension."""
        members = Group.members.through.objects
        supervisors = Group.supervisors.through.objects
        if self.kind == "user":
            supervised = supervisors.filter(user_id=self.value).values("group_id")
            return Q(user_id=self.value) | Q(
                user_id__in=members.filter(group_id__in=supervised).values("user_id")
            )
        by_members = Q(user_id__in=members.filter(group_id__in=self.value).values("user_id"))
        if self.kind == "members":
            return by_members
        return by_members | Q(
            user_id__in=supervisors.filter(group_id__in=self.value).values("user_id")
        )


@dataclass(frozen=True)
class Scope:
    """The calls a request may see: every one, none, or those owned by each owner set."""

    nothing: bool = False
    # Each must hold (a key's groups and a token's user): a tuple of owner sets.
    owner_sets: tuple[Owners, ...] = ()

    @property
    def everything(self) -> bool:
        return not self.nothing and not self.owner_sets

    @property
    def shape(self) -> tuple[str, ...] | None:
        """What the scope's condition looks like, its values aside: the kinds of its owner
        sets. Scopes of one shape compile to one SQL text with different parameters, so a
        hot query may keep (and prepare) it; None when an owner set is not a single value
        (a key's groups), whose SQL is built each time."""
        if self.nothing or any(not isinstance(o.value, int) for o in self.owner_sets):
            return None
        return tuple(o.kind for o in self.owner_sets)

    def with_values(self, values: tuple[int, ...]) -> Scope:
        """This scope's shape with other owner values (see `shape`)."""
        return Scope(
            self.nothing,
            tuple(Owners(o.kind, v) for o, v in zip(self.owner_sets, values, strict=True)),
        )

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.owner_sets)

    @property
    def single_owner(self) -> int | None:
        """The user whose `own` scope this is, when it is exactly one user's (a token's user
        with a key not limited to groups); else None."""
        if self.nothing or len(self.owner_sets) != 1:
            return None
        owners = self.owner_sets[0]
        if owners.kind != "user" or not isinstance(owners.value, int):
            return None
        return owners.value

    def __and__(self, other: Scope) -> Scope:
        return Scope(self.nothing or other.nothing, self.owner_sets + other.owner_sets)

    def condition(self, prefix: str = "") -> Q:
        """The scope as a condition on Call (or, with `prefix` such as "call__", on a model
        related to a call). Q() for every call."""
        if self.nothing:
            return Q(pk__in=[])
        condition = Q()
        for owners in self.owner_sets:
            condition &= Q(_owned_by(owners, prefix))
        return condition

    def filter(self, calls: QuerySet[Any], prefix: str = "") -> QuerySet[Any]:
        """`calls` narrowed to the scope (unchanged when the scope is everything)."""
        if self.everything:
            return calls
        return calls.filter(self.condition(prefix))

    def numbers(self) -> QuerySet[Any] | None:
        """A query of numbers, one of which is a party of every call in the scope: those
        its first owner set owns or owned (the scope's condition still decides the rest).
        A search may start from them where its usual walk would pass over every other
        number's calls. None for every call, or none."""
        if self.nothing or not self.owner_sets:
            return None
        return (
            Extension.objects.filter(self.owner_sets[0].extension_condition())
            .order_by("number")
            .values_list("number", flat=True)
            .distinct()
        )

    def admits(self, caller_number: str, called_number: str, started_at: datetime) -> bool:
        """Whether a call with these fields is in the scope, asked of the database once per
        scope (see `loaded`), then answered from memory."""
        return self.loaded().admits(caller_number, called_number, started_at)

    def loaded(self) -> LoadedScope:
        """The scope's ownership periods, read now, to judge calls without a query."""
        if self.nothing:
            return LoadedScope(nothing=True)
        sets = []
        for owners in self.owner_sets:
            periods: dict[str, list[tuple[datetime | None, datetime | None]]] = {}
            rows = Extension.objects.filter(owners.extension_condition()).values_list(
                "number", "valid_from", "valid_until"
            )
            for number, valid_from, valid_until in rows:
                periods.setdefault(number, []).append((valid_from, valid_until))
            sets.append(periods)
        return LoadedScope(owner_periods=tuple(sets))


@dataclass(frozen=True)
class LoadedScope:
    nothing: bool = False
    owner_periods: tuple[dict[str, list[tuple[datetime | None, datetime | None]]], ...] = ()

    def admits(self, caller_number: str, called_number: str, started_at: datetime) -> bool:
        if self.nothing:
            return False
        return all(
            _owned(periods, caller_number, started_at) or _owned(periods, called_number, started_at)
            for periods in self.owner_periods
        )


def _owned(
    periods: dict[str, list[tuple[datetime | None, datetime | None]]], number: str, at: datetime
) -> bool:
    return any(
        (start is None or start <= at) and (end is None or at < end)
        for start, end in periods.get(number, ())
    )


def _owned_by(owners: Owners, prefix: str) -> Exists:
    """One EXISTS: an extension of one of `owners` whose number is a party of the call,
    owned at the call's start."""
    started = OuterRef(f"{prefix}started_at")
    return Exists(
        Extension.objects.filter(
            Q(number=OuterRef(f"{prefix}caller_number"))
            | Q(number=OuterRef(f"{prefix}called_number")),
            Q(valid_from__isnull=True) | Q(valid_from__lte=started),
            Q(valid_until__isnull=True) | Q(valid_until__gt=started),
        ).filter(owners.extension_condition())
    )


EVERYTHING = Scope()
NOTHING = Scope(nothing=True)


def owned_scope(user: Any) -> Scope:
    """A user's `own` scope: the user's extensions and those of the members of the groups
    the user supervises. `user` is the user's id, or an expression that gives it inside a
    statement (`StatementOwner`)."""
    return Scope(owner_sets=(Owners("user", user),))


@dataclass(frozen=True)
class StatementOwner:
    """A user that a statement finds for itself (an API token's user, by the token's
    digest), so that a call lookup in that statement also answers whether each call is in
    that user's `own` scope: one round trip where a lookup and a scope check took two.

    `sql` selects at most one row of one column: the user's id when the user's scope may be
    `own` (not a superuser, access `own`), else no row. It only spares work: which scope
    applies is still decided by `user_id_scope` from the session the request read, and a
    lookup's answer is used only for the owner it names.
    """

    sql: VendorSql
    params: tuple[Any, ...]


def user_scope(user: User | AnonymousUser | None, *, access: str | None = None) -> Scope:
    """The calls `user` may see. `access` when already known (read with the user), else
    read from the directory."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return EVERYTHING
    level = access if access is not None else access_of(user)
    if level == Access.ALL:
        return EVERYTHING
    if level == Access.NONE:
        return NOTHING
    return owned_scope(user.pk)


def user_id_scope(user_id: int, *, access: str, is_superuser: bool) -> Scope:
    """As `user_scope`, for a user known by id and already-read access (an API token)."""
    if is_superuser or access == Access.ALL:
        return EVERYTHING
    if access == Access.NONE:
        return NOTHING
    return owned_scope(user_id)


def groups_scope(group_ids: QuerySet[Any] | Iterable[int]) -> Scope:
    """The calls of the members and supervisors of these groups (an API key's limit):
    a list of ids, or a subquery of them."""
    if not isinstance(group_ids, QuerySet):
        group_ids = list(group_ids)
    return Scope(owner_sets=(Owners("groups", group_ids),))


def members_scope(group_ids: QuerySet[Any] | Iterable[int]) -> Scope:
    """The calls in the `own` scope of these groups' members (a retention rule's groups:
    retention.md §1); supervisors' own calls are not included."""
    if not isinstance(group_ids, QuerySet):
        group_ids = list(group_ids)
    return Scope(owner_sets=(Owners("members", group_ids),))
