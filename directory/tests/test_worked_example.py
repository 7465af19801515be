"""docs/access.md's worked example, read from the page itself: the file imports, and each
call is seen by exactly the users its table says."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from calls.models import Call
from directory.importing import import_directory
from directory.models import Group
from directory.scopes import groups_scope, user_scope

pytestmark = pytest.mark.django_db

PAGE = (Path(settings.BASE_DIR) / "docs" / "access.md").read_text()
MONTHS = {"June": 6, "July": 7}


def _example_file() -> str:
    found = re.search(r"```json\n(.*?)```", PAGE, re.S)
    assert found, "docs/access.md has no JSON example"
    return found.group(1)


def _table() -> list[list[str]]:
    rows = re.findall(r"^\| ([A-E]) \|(.*)\|$", PAGE, re.M)
    return [[letter, *(cell.strip() for cell in rest.split("|"))] for letter, rest in rows]


def test_the_worked_example_imports_and_each_call_is_seen_as_its_table_says():
    import_directory(_example_file())
    users = {u.username: u for u in get_user_model().objects.all()}
    columns = ["alice", "bob", "carol", "dana", "eve"]
    calls = {}
    for letter, started, parties, *_ in _table():
        day, month, clock = started.split()
        caller, called = (p.replace(" ", "") for p in parties.split(" → "))
        at = datetime(2026, MONTHS[month], int(day), *map(int, clock.split(":")), tzinfo=UTC)
        calls[letter] = Call.objects.create(
            caller_number=caller, called_number=called, started_at=at
        ).pk
    for letter, *_, seen in [(r[0], *r[1:3], r[3:]) for r in _table()]:
        for username, cell in zip(columns, seen, strict=True):
            visible = user_scope(users[username]).filter(Call.objects.filter(pk=calls[letter]))
            assert visible.exists() == (cell == "yes"), (letter, username)
    sales = groups_scope(Group.objects.filter(name="Sales").values("pk"))
    key_sees = set(sales.filter(Call.objects.all()).values_list("pk", flat=True))
    assert key_sees == {calls[x] for x in "ABCD"}
    both = sales & user_scope(users["alice"])
    assert set(both.filter(Call.objects.all()).values_list("pk", flat=True)) == {
        calls["A"],
        calls["C"],
    }
