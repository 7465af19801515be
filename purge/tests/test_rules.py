"""Retention rules decide which calls a run deletes: conditions, longest retention wins,
the default, and the figures a dry run and a real run print."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from calls.models import Call
from purge.run import preview, run_once
from purge.tests.helpers import ended_days_ago, exists
from retention.models import DeletionEntry, RetentionRule

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def rule(name: str, days: int, prefix: str = "", direction: str = "") -> RetentionRule:
    return RetentionRule.objects.create(
        name=name, keep_days=days, number_prefix=prefix, direction=direction
    )


def test_without_rules_or_default_days_no_call_is_ever_deleted(settings):
    settings.RETENTION_DEFAULT_DAYS = None
    old = ended_days_ago(5000)

    report = run_once()

    assert report.deleted == 0 and exists(old)


def test_the_default_days_delete_calls_that_no_rule_matches(settings):
    settings.RETENTION_DEFAULT_DAYS = 30
    due = ended_days_ago(31)
    young = ended_days_ago(29)

    run_once()

    assert not exists(due) and exists(young)
    assert DeletionEntry.objects.get().reason == "default"


def test_a_number_prefix_matches_the_caller_or_the_called_party():
    rule("UK", 10, prefix="+44")
    as_caller = ended_days_ago(11, caller_number="+441234", called_number="100")
    as_called = ended_days_ago(11, caller_number="200", called_number="+449876")
    neither = ended_days_ago(11, caller_number="+331234", called_number="300")

    run_once()

    assert (exists(as_caller), exists(as_called), exists(neither)) == (False, False, True)


def test_a_direction_rule_matches_only_that_direction():
    rule("Outbound", 10, direction="outbound")
    outbound = ended_days_ago(11, direction="outbound")
    inbound = ended_days_ago(11, direction="inbound")

    run_once()

    assert (exists(outbound), exists(inbound)) == (False, True)


def test_a_rule_with_a_prefix_and_a_direction_needs_both():
    rule("UK out", 10, prefix="+44", direction="outbound")
    both = ended_days_ago(11, caller_number="+4411", direction="outbound")
    prefix_only = ended_days_ago(11, caller_number="+4412", direction="inbound")
    direction_only = ended_days_ago(11, caller_number="+3312", direction="outbound")

    run_once()

    assert [exists(c) for c in (both, prefix_only, direction_only)] == [False, True, True]


def test_a_rule_without_conditions_matches_every_call():
    rule("Everything", 10)
    calls = [ended_days_ago(11, direction=d) for d in ("inbound", "outbound", "internal")]

    run_once()

    assert not any(exists(c) for c in calls)


def test_the_longest_matching_retention_wins_whichever_rule_was_made_first(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    rule("Short", 10, prefix="+44")
    rule("Long", 100, direction="outbound")
    # Matches both: Long decides, so 50 days is not enough.
    both = ended_days_ago(50, caller_number="+4411", direction="outbound")
    both_old = ended_days_ago(101, caller_number="+4412", direction="outbound")
    short_only = ended_days_ago(50, caller_number="+4413", direction="inbound")

    run_once()

    assert [exists(c) for c in (both, both_old, short_only)] == [True, False, False]
    reasons = dict(DeletionEntry.objects.values_list("call", "reason"))
    assert reasons == {both_old.pk: "retention:Long", short_only.pk: "retention:Short"}


def test_a_rule_longer_than_the_default_keeps_its_calls_beyond_the_default(settings):
    settings.RETENTION_DEFAULT_DAYS = 30
    rule("Trading desk", 2555, prefix="+4420")
    trading = ended_days_ago(400, caller_number="+44201", called_number="1")
    other = ended_days_ago(400, caller_number="+3311", called_number="1")

    run_once()

    assert (exists(trading), exists(other)) == (True, False)


def test_a_rule_without_conditions_that_is_longest_leaves_nothing_to_the_default(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    rule("Everything", 100)
    rule("UK", 10, prefix="+44")
    call = ended_days_ago(50, caller_number="+4411")

    assert [f.due for f in preview()] == [0, 0, 0]
    run_once()

    assert exists(call)


def test_a_call_in_progress_or_without_an_end_is_never_due(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    ongoing = ended_days_ago(0, recording=False)
    Call.objects.filter(pk=ongoing.pk).update(ended_at=None)
    lost_end = ended_days_ago(400, recording=False)
    Call.objects.filter(pk=lost_end.pk).update(ended_at=None)

    run_once()

    assert exists(ongoing) and exists(lost_end)


def test_a_kept_call_is_never_due_and_is_due_again_once_unmarked(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    kept = ended_days_ago(10, keep=True)

    run_once()
    assert exists(kept)

    Call.objects.filter(pk=kept.pk).update(keep=False)
    run_once()
    assert not exists(kept)


def test_the_dry_run_prints_per_rule_exactly_what_the_real_run_then_deletes(settings):
    settings.RETENTION_DEFAULT_DAYS = 30
    rule("UK", 10, prefix="+44")
    rule("Outbound", 20, direction="outbound")
    for _ in range(3):
        ended_days_ago(11, caller_number="+4411", direction="inbound")
    for _ in range(2):
        ended_days_ago(21, caller_number="+3311", direction="outbound")
    ended_days_ago(31, caller_number="+3312", direction="inbound")
    ended_days_ago(5, caller_number="+4412", direction="inbound")

    dry = StringIO()
    call_command("apply_retention", "--dry-run", stdout=dry)
    real = StringIO()
    call_command("apply_retention", "--batch-size", "2", stdout=real)

    assert dry.getvalue().splitlines() == [
        "Outbound (20 days): would delete 2",
        "UK (10 days): would delete 3",
        "(no rule: RETENTION_DEFAULT_DAYS) (30 days): would delete 1",
        "Total: would delete 6",
    ]
    assert real.getvalue().splitlines()[:4] == [
        line.replace("would delete", "deleted") for line in dry.getvalue().splitlines()
    ]
    assert Call.objects.count() == 1


def test_the_rule_command_creates_changes_and_deletes_rules_and_records_each_change():
    call_command(
        "retention_rule", "PCI", "--days", "90", "--number-prefix", "+1800", stdout=StringIO()
    )
    call_command(
        "retention_rule", "PCI", "--days", "60", "--direction", "inbound", stdout=StringIO()
    )
    call_command("retention_rule", "PCI", "--delete", stdout=StringIO())

    from retention.models import RuleChange

    changes = list(RuleChange.objects.order_by("id").values_list("action", "before", "after"))
    assert [c[0] for c in changes] == ["created", "changed", "deleted"]
    assert changes[0][1] is None and changes[0][2]["keep_days"] == 90
    assert changes[1][1]["number_prefix"] == "+1800" and changes[1][2] == {
        "name": "PCI",
        "keep_days": 60,
        "number_prefix": "",
        "direction": "inbound",
        "groups": [],
    }
    assert changes[2][2] is None
    assert RuleChange.objects.first().by.startswith("manage.py (")
    assert not RetentionRule.objects.exists()


def test_the_rule_command_refuses_zero_days_with_a_sentence():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="keep_days"):
        call_command("retention_rule", "Bad", "--days", "0", stdout=StringIO())
    assert not RetentionRule.objects.exists()


# --- groups -------------------------------------------------------------------------------


def sales_group(django_user_model, number: str = "8856"):
    from directory.models import Extension, Group

    agent = django_user_model.objects.create_user(username=f"agent{number}")
    boss = django_user_model.objects.create_user(username=f"boss{number}")
    Extension.objects.create(user=agent, number=number)
    Extension.objects.create(user=boss, number="9999")
    group = Group.objects.create(name=f"Sales {number}")
    group.members.add(agent)
    group.supervisors.add(boss)
    return group


def test_a_group_rule_matches_the_calls_of_its_members_own_numbers_not_their_supervisors(
    django_user_model,
):
    group = sales_group(django_user_model, "8856")
    sales = RetentionRule.objects.create(name="Sales", keep_days=10)
    sales.groups.add(group)
    members = ended_days_ago(11, caller_number="+4411", called_number="8856")
    supervisors = ended_days_ago(11, caller_number="9999", called_number="+4412")
    strangers = ended_days_ago(11, caller_number="+4413", called_number="7777")

    run_once()

    assert [exists(c) for c in (members, supervisors, strangers)] == [False, True, True]


def test_a_group_rule_with_a_direction_needs_both(django_user_model):
    group = sales_group(django_user_model, "8856")
    sales = RetentionRule.objects.create(name="Sales out", keep_days=10, direction="outbound")
    sales.groups.add(group)
    out = ended_days_ago(11, caller_number="8856", direction="outbound")
    inbound = ended_days_ago(11, called_number="8856", direction="inbound")

    run_once()

    assert (exists(out), exists(inbound)) == (False, True)


def test_the_rule_command_takes_groups_and_the_history_names_them(django_user_model):
    from retention.models import RuleChange

    sales_group(django_user_model, "8856")

    call_command(
        "retention_rule", "Sales", "--days", "30", "--group", "Sales 8856", stdout=StringIO()
    )

    assert RuleChange.objects.get().after["groups"] == ["Sales 8856"]
    with pytest.raises(Exception, match="No directory group named Nope"):
        call_command("retention_rule", "X", "--days", "3", "--group", "Nope", stdout=StringIO())


def test_each_call_retention_deletes_leaves_a_system_delete_event_in_the_access_log(settings):
    from access_log.models import AccessEvent

    settings.RETENTION_DEFAULT_DAYS = 1
    gone = ended_days_ago(5)

    run_once()

    event = AccessEvent.objects.get()
    assert (event.kind, event.call_id, event.surface, event.user, event.api_key) == (
        "delete",
        gone.pk,
        "system",
        "",
        "",
    )
    assert event.detail == {"reason": "default"}


def test_the_command_lowers_its_cpu_priority_by_the_configured_niceness(settings, monkeypatch):
    lowered = []
    monkeypatch.setattr("os.nice", lowered.append)
    settings.RETENTION_NICENESS = 10

    call_command("apply_retention", stdout=StringIO())
    call_command("apply_retention", "--dry-run", stdout=StringIO())
    settings.RETENTION_NICENESS = 0
    call_command("apply_retention", stdout=StringIO())

    assert lowered == [10]
