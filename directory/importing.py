"""Syncing the directory from a file (access.md §1): `manage.py import_directory` and the
admin's upload share this one reader and writer.

All or nothing: the whole file is checked first (shapes, names, time zones, periods, every
number's owners across the file and the users it does not name), and any error names its
entry and changes nothing. For each user the file names, the file is the whole truth: its
extensions replace the stored ones, and each group's members and supervisors are the lists
given. Users the file does not name are kept (and, with `prune`, deactivated; superusers
excepted, so an import can never lock the administrators out). Groups the file does not
name are kept. Passwords are never in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from directory.models import (
    DEFAULT_TIME_ZONE,
    Access,
    Extension,
    Group,
    Profile,
    available_time_zones,
    is_overlap,
    period_text,
    periods_overlap,
)
from shared.numbers import NUMBER_REQUIREMENT, BadNumber, clean_number

USER_KEYS = {"username", "name", "email", "time_zone", "access", "extensions"}
GROUP_KEYS = {"name", "members", "supervisors"}
EXTENSION_KEYS = {"number", "from", "until"}


class DirectoryFileError(Exception):
    """The file cannot be imported; `errors` name each entry at fault. Nothing changed."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass
class _Period:
    number: str
    valid_from: datetime | None
    valid_until: datetime | None
    where: str


@dataclass
class _User:
    username: str
    name: str | None
    email: str | None
    time_zone: str
    access: str
    periods: list[_Period] = field(default_factory=list)


@dataclass
class _Group:
    name: str
    members: list[str]
    supervisors: list[str]


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    deactivated: int
    groups: int

    def __str__(self) -> str:
        return (
            f"{self.created} users created, {self.updated} updated, "
            f"{self.deactivated} deactivated, {self.groups} groups written."
        )


CHANGED_MEANWHILE = (
    "An extension in the file was given to another user while the file was imported; "
    "nothing was imported. Import the file again to see which."
)


def import_directory(content: bytes | str, *, prune: bool = False) -> ImportResult:
    """Check the whole file, then write it in one transaction; DirectoryFileError (nothing
    changed) when anything is wrong."""
    users, groups = _read(content)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                _check_against_stored(users, groups)
                return _write(users, groups, prune=prune)
        except IntegrityError as error:
            # Another writer gave one of the file's numbers to someone else between the
            # check and the write (the database's constraint, on PostgreSQL): checked again,
            # the clash is named like any other.
            if not is_overlap(error):
                raise
    raise DirectoryFileError([CHANGED_MEANWHILE])


def _read(content: bytes | str) -> tuple[list[_User], list[_Group]]:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DirectoryFileError([f"The file is not JSON: {exc}"]) from None
    if not isinstance(data, dict) or set(data) - {"users", "groups"}:
        raise DirectoryFileError(['The file must be an object with "users" and "groups".'])
    errors: list[str] = []
    raw_users = data.get("users", [])
    raw_groups = data.get("groups", [])
    if not isinstance(raw_users, list) or not isinstance(raw_groups, list):
        raise DirectoryFileError(['"users" and "groups" must be lists.'])
    users: list[_User] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_users):
        user = _read_user(raw, f"users[{index}]", errors)
        if user is None:
            continue
        if user.username in seen:
            errors.append(f"users[{index}] ({user.username}): the user is named twice.")
        seen.add(user.username)
        users.append(user)
    groups: list[_Group] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_groups):
        group = _read_group(raw, f"groups[{index}]", errors)
        if group is None:
            continue
        if group.name in names:
            errors.append(f"groups[{index}] ({group.name}): the group is named twice.")
        names.add(group.name)
        groups.append(group)
    _check_overlaps_in_file(users, errors)
    if errors:
        raise DirectoryFileError(errors)
    return users, groups


def _read_user(raw: Any, where: str, errors: list[str]) -> _User | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be an object.")
        return None
    username = raw.get("username")
    if not isinstance(username, str) or not username.strip() or len(username) > 150:
        errors.append(f"{where}: username must be text of 1 to 150 characters.")
        return None
    where = f"{where} ({username})"
    unknown = set(raw) - USER_KEYS
    if unknown:
        errors.append(f"{where}: unknown field {', '.join(sorted(unknown))}.")
    name, email = raw.get("name"), raw.get("email")
    for key, value in (("name", name), ("email", email)):
        if value is not None and not isinstance(value, str):
            errors.append(f"{where}: {key} must be text.")
    time_zone = raw.get("time_zone") or DEFAULT_TIME_ZONE
    if not isinstance(time_zone, str) or time_zone not in available_time_zones():
        errors.append(f"{where}: time_zone {time_zone!r} is not an IANA time zone name.")
    access = raw.get("access") or Access.OWN
    if access not in Access.values:
        errors.append(f"{where}: access must be one of none, own, all (not {access!r}).")
    user = _User(
        username=username,
        name=name if isinstance(name, str) else None,
        email=email if isinstance(email, str) else None,
        time_zone=time_zone if isinstance(time_zone, str) else DEFAULT_TIME_ZONE,
        access=str(access),
    )
    extensions = raw.get("extensions", [])
    if not isinstance(extensions, list):
        errors.append(f"{where}: extensions must be a list.")
        return user
    for position, entry in enumerate(extensions):
        period = _read_extension(entry, f"{where}: extensions[{position}]", errors)
        if period is not None:
            user.periods.append(period)
    return user


def _read_extension(entry: Any, where: str, errors: list[str]) -> _Period | None:
    if isinstance(entry, str):
        entry = {"number": entry}
    if not isinstance(entry, dict):
        errors.append(f"{where}: must be a number or an object with number, from, until.")
        return None
    unknown = set(entry) - EXTENSION_KEYS
    if unknown:
        errors.append(f"{where}: unknown field {', '.join(sorted(unknown))}.")
    raw_number = entry.get("number")
    try:
        # The number rule of every call entry point: an extension no call could carry
        # would match nothing.
        if not isinstance(raw_number, str):
            raise BadNumber()
        number = clean_number(raw_number)
    except BadNumber:
        errors.append(f"{where}: number must be text of {NUMBER_REQUIREMENT}.")
        return None
    ends: list[datetime | None] = []
    for key in ("from", "until"):
        value = entry.get(key)
        if value is None:
            ends.append(None)
            continue
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None or moment.tzinfo is None:
            errors.append(
                f"{where}: {key} must be an ISO 8601 time with its offset "
                f"(such as 2026-01-01T00:00:00Z), not {value!r}."
            )
            return None
        ends.append(moment)
    if ends[0] is not None and ends[1] is not None and ends[1] <= ends[0]:
        errors.append(f"{where}: until must come after from.")
        return None
    return _Period(number, ends[0], ends[1], f"{where} ({number})")


def _read_group(raw: Any, where: str, errors: list[str]) -> _Group | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be an object.")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 150:
        errors.append(f"{where}: name must be text of 1 to 150 characters.")
        return None
    where = f"{where} ({name})"
    unknown = set(raw) - GROUP_KEYS
    if unknown:
        errors.append(f"{where}: unknown field {', '.join(sorted(unknown))}.")
    lists = []
    for key in ("members", "supervisors"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f"{where}: {key} must be a list of user names.")
            value = []
        lists.append(value)
    return _Group(name, lists[0], lists[1])


def _check_overlaps_in_file(users: list[_User], errors: list[str]) -> None:
    by_number: dict[str, list[tuple[str, _Period]]] = {}
    for user in users:
        for period in user.periods:
            for other_user, other in by_number.get(period.number, []):
                if periods_overlap(
                    period.valid_from, period.valid_until, other.valid_from, other.valid_until
                ):
                    errors.append(
                        f"{period.where}: extension {period.number} also belongs to "
                        f"{other_user} ({period_text(other.valid_from, other.valid_until)}) "
                        "at the same time."
                    )
            by_number.setdefault(period.number, []).append((user.username, period))


def _check_against_stored(users: list[_User], groups: list[_Group]) -> None:
    """What only the database can tell: numbers owned by users the file does not name, and
    group members that are neither in the file nor stored."""
    errors: list[str] = []
    named = {user.username for user in users}
    user_model = get_user_model()
    username_field = user_model.USERNAME_FIELD
    numbers = {period.number for user in users for period in user.periods}
    stored = (
        Extension.objects.filter(number__in=numbers)
        .exclude(**{f"user__{username_field}__in": named})
        .select_related("user")
    )
    by_number: dict[str, list[Extension]] = {}
    for extension in stored:
        by_number.setdefault(extension.number, []).append(extension)
    for user in users:
        for period in user.periods:
            for extension in by_number.get(period.number, []):
                if periods_overlap(
                    period.valid_from,
                    period.valid_until,
                    extension.valid_from,
                    extension.valid_until,
                ):
                    errors.append(
                        f"{period.where}: extension {period.number} already belongs to "
                        f"{extension.user.get_username()} "
                        f"({period_text(extension.valid_from, extension.valid_until)}) "
                        "at the same time."
                    )
    wanted = {name for group in groups for name in (*group.members, *group.supervisors)}
    known = named | set(
        user_model.objects.filter(**{f"{username_field}__in": wanted}).values_list(
            username_field, flat=True
        )
    )
    for index, group in enumerate(groups):
        for name in (*group.members, *group.supervisors):
            if name not in known:
                errors.append(f"groups[{index}] ({group.name}): unknown user {name!r}.")
    if errors:
        raise DirectoryFileError(errors)


def _write(users: list[_User], groups: list[_Group], *, prune: bool) -> ImportResult:
    user_model = get_user_model()
    username_field = user_model.USERNAME_FIELD
    created = updated = deactivated = 0
    by_name: dict[str, Any] = {}
    for entry in users:
        user = user_model.objects.filter(**{username_field: entry.username}).first()
        if user is None:
            user = user_model(**{username_field: entry.username})
            user.set_unusable_password()
            created += 1
        else:
            updated += 1
        if entry.name is not None:
            first, _, last = entry.name.strip().partition(" ")
            user.first_name, user.last_name = first[:150], last[:150]
        if entry.email is not None:
            user.email = entry.email
        user.is_active = True
        user.save()
        Profile.objects.update_or_create(
            user=user, defaults={"access": entry.access, "time_zone": entry.time_zone}
        )
        Extension.objects.filter(user=user).delete()
        Extension.objects.bulk_create(
            Extension(
                user=user,
                number=period.number,
                valid_from=period.valid_from,
                valid_until=period.valid_until,
            )
            for period in entry.periods
        )
        by_name[entry.username] = user
    missing = {n for g in groups for n in (*g.members, *g.supervisors)} - set(by_name)
    for user in user_model.objects.filter(**{f"{username_field}__in": missing}):
        by_name[user.get_username()] = user
    for entry_group in groups:
        group, _ = Group.objects.get_or_create(name=entry_group.name)
        group.members.set([by_name[n] for n in entry_group.members])
        group.supervisors.set([by_name[n] for n in entry_group.supervisors])
    if prune:
        deactivated = (
            user_model.objects.filter(is_active=True, is_superuser=False)
            .exclude(**{f"{username_field}__in": [u.username for u in users]})
            .update(is_active=False)
        )
    return ImportResult(created, updated, deactivated, len(groups))
