"""Two users never own one number at one instant, even when two writers save at once
(access.md §1): on PostgreSQL the database refuses the overlap (directory migration 0004),
and the admin and the import then answer with the same clear error as their own check.
PostgreSQL only (collect_ignore in conftest.py): SQLite has one writer at a time.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from directory import importing, models
from directory.importing import DirectoryFileError, import_directory
from directory.models import Extension
from directory.tests.factories import directory_user

MOVED = datetime(2026, 7, 1, tzinfo=UTC)


def in_own_connection(work) -> None:
    """Run `work` on a thread of its own, so on a database connection of its own that
    commits: another administrator or import, saving at the same time."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # handed to the test's thread
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


@pytest.mark.django_db
def test_the_database_refuses_a_second_owner_of_a_number_at_the_same_time():
    alice = directory_user("alice", extensions=[("8856", None, MOVED)])
    bob = directory_user("bob")

    # Written past every check of the forms and the import.
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Extension.objects.create(user=bob, number="8856", valid_from=None, valid_until=None)

    assert models.is_overlap(refused.value)
    # A desk that moves: Bob from the instant Alice's period ends.
    Extension.objects.create(user=bob, number="8856", valid_from=MOVED)
    assert Extension.objects.filter(number="8856").count() == 2
    assert alice.extensions.get().valid_until == MOVED


@pytest.mark.django_db(transaction=True)
def test_two_imports_at_once_give_a_number_to_one_user_and_name_the_clash_to_the_other(
    monkeypatch,
):
    # Both imports check the stored extensions before either writes: neither sees the other.
    both_checked = threading.Barrier(2, timeout=30)
    checked = threading.local()
    check = importing._check_against_stored

    def check_then_wait(users, groups):
        check(users, groups)
        if not getattr(checked, "once", False):
            checked.once = True
            both_checked.wait()

    monkeypatch.setattr(importing, "_check_against_stored", check_then_wait)
    outcomes: dict[str, str] = {}

    def imports(username: str):
        def work() -> None:
            data = {"users": [{"username": username, "extensions": ["8856"]}], "groups": []}
            try:
                import_directory(json.dumps(data))
                outcomes[username] = "imported"
            except DirectoryFileError as error:
                outcomes[username] = str(error)

        return threading.Thread(target=lambda: _closing(work))

    threads = [imports("alice"), imports("bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    owners = list(Extension.objects.filter(number="8856").values_list("user__username", flat=True))
    assert len(owners) == 1
    (winner,) = owners
    loser = "bob" if winner == "alice" else "alice"
    assert outcomes[winner] == "imported"
    assert outcomes[loser] == (
        f"users[0] ({loser}): extensions[0] (8856): extension 8856 already belongs to "
        f"{winner} (always) at the same time."
    )


def _closing(work) -> None:
    try:
        work()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_an_admin_save_racing_another_names_the_clash_in_the_form(admin_client, monkeypatch):
    alice = directory_user("alice")
    bob = directory_user("bob")
    check = models.overlapping_extensions
    raced: list[bool] = []

    def check_then_another_admin_saves(*args, **kwargs):
        found = check(*args, **kwargs)
        list(found)  # the check ran: nothing clashes yet
        if not raced:
            raced.append(True)
            # Meanwhile, on Alice's page, another administrator saves 8856 for her.
            in_own_connection(lambda: Extension.objects.create(user=alice, number="8856"))
        return found

    monkeypatch.setattr(models, "overlapping_extensions", check_then_another_admin_saves)
    form = {
        "username": "bob",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "directory_profile-TOTAL_FORMS": "1",
        "directory_profile-INITIAL_FORMS": "1",
        "directory_profile-0-id": bob.directory_profile.pk,
        "directory_profile-0-user": bob.pk,
        "directory_profile-0-access": "own",
        "directory_profile-0-time_zone": "UTC",
        "extensions-TOTAL_FORMS": "1",
        "extensions-INITIAL_FORMS": "0",
        "extensions-0-number": "8856",
        "extensions-0-user": bob.pk,
    }

    answer = admin_client.post(reverse("admin:auth_user_change", args=[bob.pk]), form)

    assert answer.status_code == 200, "the form comes back with the error, not a 500"
    assert (
        "Extension 8856 already belongs to alice (always) at the same time."
        in answer.content.decode()
    )
    assert list(Extension.objects.values_list("user__username", flat=True)) == ["alice"]
