"""A thousand users, ten thousand calls: not one call visible outside its viewer's scope and
not one missing inside it, on the database condition, the Business API and the staff pages.

The expected scopes come from an oracle written here from access.md §2 alone (owners of each
party number at the call's start, and the supervisors of those owners' groups), not from
directory.scopes. Desks change hands at random moments, so a number's calls split between
owners; some users see everything, some nothing.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from apikeys.services import create_api_key, request_token
from calls.models import Call
from directory.models import Access, Extension, Group, Profile
from directory.scopes import user_scope

pytestmark = pytest.mark.django_db

USERS = 1000
CALLS = 10_000
GROUPS = 40
NUMBERS = 1200
YEAR_START = datetime(2025, 6, 1, tzinfo=UTC)  # every call over before today
YEAR = timedelta(days=360)


def _moment(rng: random.Random) -> datetime:
    return YEAR_START + timedelta(seconds=rng.randrange(int(YEAR.total_seconds())))


@pytest.fixture
def world(db):
    rng = random.Random(20)
    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(username=f"u{n:04d}", password="!") for n in range(USERS)
    )
    users = list(user_model.objects.order_by("username"))
    access = {}
    for user in users:
        roll = rng.random()
        access[user.pk] = Access.ALL if roll < 0.03 else Access.NONE if roll < 0.06 else Access.OWN
    Profile.objects.bulk_create(Profile(user=u, access=access[u.pk]) for u in users)
    # Each number: unowned, one owner for all time, or two owners split at a moment.
    periods: dict[str, list[tuple[int, datetime | None, datetime | None]]] = {}
    extensions = []
    for n in range(NUMBERS):
        number = f"2{n:04d}"
        roll = rng.random()
        if roll < 0.15:
            continue
        first = rng.choice(users).pk
        if roll < 0.7:
            periods[number] = [(first, None, None)]
        else:
            moved = _moment(rng)
            second = rng.choice(users).pk
            periods[number] = [(first, None, moved), (second, moved, None)]
        extensions += [Extension(user_id=u, number=number, valid_from=f, valid_until=t)
                       for u, f, t in periods[number]]  # fmt: skip
    Extension.objects.bulk_create(extensions)
    members: dict[int, set[int]] = {}
    supervisors: dict[int, set[int]] = {}
    Group.objects.bulk_create(Group(name=f"g{n}") for n in range(GROUPS))
    for group in Group.objects.all():
        members[group.pk] = {u.pk for u in rng.sample(users, 25)}
        supervisors[group.pk] = {u.pk for u in rng.sample(users, rng.choice((1, 2)))}
    Group.members.through.objects.bulk_create(
        Group.members.through(group_id=g, user_id=u) for g, us in members.items() for u in us
    )
    Group.supervisors.through.objects.bulk_create(
        Group.supervisors.through(group_id=g, user_id=u)
        for g, us in supervisors.items()
        for u in us
    )
    numbers = list(periods) + [f"2{n:04d}" for n in range(NUMBERS) if f"2{n:04d}" not in periods]

    def party() -> str:
        return rng.choice(numbers) if rng.random() < 0.6 else f"+44{rng.randrange(10**9):09d}"

    calls = []
    for _ in range(CALLS):
        start = _moment(rng)
        calls.append(
            Call(
                caller_number=party(),
                called_number=party(),
                started_at=start,
                ended_at=start + timedelta(seconds=rng.randrange(5, 900)),
            )
        )
    Call.objects.bulk_create(calls, batch_size=2000)

    # The oracle: access.md §2 read literally.
    def owners(number: str, at: datetime) -> set[int]:
        return {
            u
            for u, f, t in periods.get(number, ())
            if (f is None or f <= at) and (t is None or at < t)
        }

    supervisors_of: dict[int, set[int]] = defaultdict(set)
    for group, group_members in members.items():
        for member in group_members:
            supervisors_of[member] |= supervisors[group]
    sees: dict[int, set] = defaultdict(set)
    everyone = {u for u, level in access.items() if level == Access.ALL}
    for call in calls:
        own = owners(call.caller_number, call.started_at) | owners(
            call.called_number, call.started_at
        )
        viewers = set(own)
        for owner in own:
            viewers |= supervisors_of[owner]
        for viewer in viewers:
            if access[viewer] == Access.OWN:
                sees[viewer].add(call.pk)
    all_ids = {c.pk for c in calls}
    for viewer in everyone:
        sees[viewer] = all_ids
    return {"users": users, "access": access, "sees": sees, "supervisors": supervisors}


def test_the_database_condition_matches_the_oracle_for_every_one_of_a_thousand_users(world):
    wrong = {}
    for user in world["users"]:
        found = set(user_scope(user).filter(Call.objects.all()).values_list("pk", flat=True))
        expected = world["sees"].get(user.pk, set())
        if found != expected:
            wrong[user.username] = (len(found - expected), len(expected - found))

    assert wrong == {}, "users with (calls visible outside, calls missing inside)"
    assert sum(1 for u in world["users"] if world["sees"].get(u.pk)) > 500


def _sample(world, count: int) -> list:
    """Supervisors, agents with calls, one `all` and one `none`: the kinds that differ."""
    rng = random.Random(7)
    supervising = sorted({u for us in world["supervisors"].values() for u in us})
    by_pk = {u.pk: u for u in world["users"]}
    agents = [
        u for u in world["users"] if world["access"][u.pk] == Access.OWN and world["sees"].get(u.pk)
    ]
    kinds = [
        next(u for u in world["users"] if world["access"][u.pk] == Access.ALL),
        next(u for u in world["users"] if world["access"][u.pk] == Access.NONE),
    ]
    picked = [by_pk[p] for p in rng.sample(supervising, count // 2) if p in by_pk]
    return kinds + picked + rng.sample(agents, count - len(picked))


def test_search_calls_with_each_user_s_token_lists_exactly_the_oracle_s_calls(client, world):
    key, plaintext = create_api_key("Scale", can_query=True)
    view = Permission.objects.get(codename="view_call", content_type__app_label="calls")
    wrong = {}
    for user in _sample(world, 30):
        user.user_permissions.add(view)
        token = request_token(key, user)[1]
        listed: set = set()
        first = 0
        while True:
            answer = client.get(
                "/verba/api",
                {
                    "action": "SearchCalls",
                    "apiKey": plaintext,
                    "token": token,
                    "start": "2025-05-25 00:00",
                    "end": "2026-06-05 00:00",
                    "pagelen": "1000",
                    "pagefirst": str(first),
                    "responseType": "TEXT",
                },
            )
            rows = answer.content.decode().splitlines()
            listed |= {row.split("\t", 1)[0] for row in rows}
            if len(rows) < 1000:
                break
            first += 1000
        expected = {str(pk) for pk in world["sees"].get(user.pk, set())}
        if listed != expected:
            wrong[user.username] = (len(listed - expected), len(expected - listed))

    assert wrong == {}


def test_the_staff_list_shows_each_user_exactly_the_oracle_s_calls(client, world):
    wrong = {}
    for user in _sample(world, 12):
        if world["access"][user.pk] != Access.OWN:
            continue  # the `all` user's list is the whole table; `none` gets no list
        client.force_login(user)
        listed: set = set()
        url = "/calls/"
        while url:
            page = client.get(url).content.decode()
            listed |= set(re.findall(r'href="/calls/([0-9a-f-]{36})/"', page))
            older = re.search(r'href="(\?[^"]*before=[^"]*)"', page)
            url = "/calls/" + older.group(1).replace("&amp;", "&") if older else ""
        expected = {str(pk) for pk in world["sees"].get(user.pk, set())}
        if listed != expected:
            wrong[user.username] = (len(listed - expected), len(expected - listed))

    assert wrong == {}
