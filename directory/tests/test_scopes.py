"""The one definition of a scope, asked of the database and of memory (access.md §2)."""

from datetime import UTC, datetime, timedelta

import pytest

from calls.models import Call
from directory.models import Access
from directory.scopes import EVERYTHING, NOTHING, groups_scope, user_scope
from directory.tests.factories import directory_group, directory_user

pytestmark = pytest.mark.django_db

MOVED = datetime(2026, 6, 1, tzinfo=UTC)


def call(caller: str, called: str, at: datetime) -> Call:
    return Call.objects.create(caller_number=caller, called_number=called, started_at=at)


def seen(scope) -> set:
    ids = set(scope.filter(Call.objects.all()).values_list("pk", flat=True))
    loaded = scope.loaded()
    in_memory = {
        c.pk
        for c in Call.objects.all()
        if loaded.admits(c.caller_number, c.called_number, c.started_at)
    }
    assert ids == in_memory, "the database and memory disagree on the scope"
    return ids


@pytest.fixture
def office():
    alice = directory_user("alice", extensions=[("8856", None, MOVED)])
    bob = directory_user("bob", extensions=[("8856", MOVED, None), "8857"])
    carol = directory_user("carol", extensions=["8860"])
    dpo = directory_user("dpo", access=Access.ALL)
    nobody = directory_user("nobody", access=Access.NONE, extensions=["8870"])
    sales = directory_group("Sales", members=[alice, bob], supervisors=[carol])
    before = call("8856", "+441000", MOVED - timedelta(days=1))
    after = call("+441000", "8856", MOVED + timedelta(days=1))
    bobs = call("8857", "+442000", MOVED - timedelta(days=30))
    carols = call("8860", "+443000", MOVED)
    nobodys = call("8870", "+444000", MOVED)
    stranger = call("+445000", "+446000", MOVED)
    return {
        "users": (alice, bob, carol, dpo, nobody),
        "sales": sales,
        "calls": (before, after, bobs, carols, nobodys, stranger),
    }


def test_an_agent_sees_her_number_s_calls_only_while_she_owned_it(office):
    alice = office["users"][0]
    before, *_ = office["calls"]

    assert seen(user_scope(alice)) == {before.pk}


def test_the_number_s_new_owner_sees_the_calls_from_his_start_on(office):
    bob = office["users"][1]
    _, after, bobs, *_ = office["calls"]

    assert seen(user_scope(bob)) == {after.pk, bobs.pk}


def test_a_supervisor_sees_her_own_and_her_members_calls(office):
    carol = office["users"][2]
    before, after, bobs, carols, _, _ = office["calls"]

    assert seen(user_scope(carol)) == {before.pk, after.pk, bobs.pk, carols.pk}


def test_all_sees_every_call_and_none_sees_none(office):
    dpo, nobody = office["users"][3], office["users"][4]

    assert user_scope(dpo) == EVERYTHING
    assert user_scope(nobody) == NOTHING
    assert seen(user_scope(nobody)) == set()


def test_a_superuser_sees_every_call_whatever_the_directory_says(django_user_model):
    root = django_user_model.objects.create_superuser("root", password="x")

    assert user_scope(root) == EVERYTHING


def test_a_user_without_a_profile_has_own_access_and_so_no_calls(django_user_model, office):
    plain = django_user_model.objects.create_user("plain")

    assert seen(user_scope(plain)) == set()


def test_an_inactive_user_sees_nothing(office):
    alice = office["users"][0]
    alice.is_active = False

    assert user_scope(alice) == NOTHING


def test_a_group_key_sees_its_members_and_supervisors_own_calls(office):
    before, after, bobs, carols, _, _ = office["calls"]

    assert seen(groups_scope([office["sales"].pk])) == {before.pk, after.pk, bobs.pk, carols.pk}


def test_a_group_key_with_a_token_sees_where_both_scopes_meet(office):
    alice = office["users"][0]
    before, *_ = office["calls"]
    empty = directory_group("Empty")

    assert seen(groups_scope([office["sales"].pk]) & user_scope(alice)) == {before.pk}
    assert seen(groups_scope([empty.pk]) & user_scope(alice)) == set()


def test_a_supervisor_s_scope_uses_each_member_s_own_periods_not_her_supervisor_s(office):
    # Carol supervises Sales; Dave supervises Carol's team "Leads". Dave sees Carol's own
    # calls, not the Sales calls she sees as a supervisor.
    carol = office["users"][2]
    dave = directory_user("dave")
    directory_group("Leads", members=[carol], supervisors=[dave])
    carols = office["calls"][3]

    assert seen(user_scope(dave)) == {carols.pk}
