"""manage.py import_directory and the admin's upload: the spec's file, all or nothing."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from directory.models import Access, Extension, Group, Profile
from directory.tests.factories import directory_user

pytestmark = pytest.mark.django_db

SPEC_FILE = {
    "users": [
        {
            "username": "alice",
            "name": "Alice Smith",
            "email": "alice@example.com",
            "time_zone": "Europe/London",
            "access": "own",
            "extensions": [
                "8856",
                {"number": "8857", "from": "2026-01-01T00:00:00Z", "until": "2026-07-01T00:00:00Z"},
            ],
        },
        {"username": "bob", "name": "Bob Brown", "extensions": ["8858"]},
        {"username": "carol", "name": "Carol Jones", "access": "own", "extensions": ["8860"]},
        {"username": "dpo", "name": "Data Protection", "access": "all"},
    ],
    "groups": [{"name": "Sales", "members": ["alice", "bob"], "supervisors": ["carol"]}],
}


def write(tmp_path, data, name="directory.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def run(path, *args):
    from io import StringIO

    out = StringIO()
    call_command("import_directory", str(path), *args, stdout=out)
    return out.getvalue()


def snapshot():
    return (
        sorted(get_user_model().objects.values_list("username", "is_active", "first_name")),
        sorted(Profile.objects.values_list("user__username", "access", "time_zone")),
        sorted(
            Extension.objects.values_list("user__username", "number", "valid_from", "valid_until"),
            key=str,
        ),
        sorted(
            Group.objects.values_list("name", "members__username", "supervisors__username"), key=str
        ),
    )


def test_the_spec_s_example_file_imports_users_extensions_and_groups(tmp_path):
    out = run(write(tmp_path, SPEC_FILE))

    assert "4 users created" in out
    alice = get_user_model().objects.get(username="alice")
    assert (alice.first_name, alice.last_name, alice.email) == (
        "Alice",
        "Smith",
        "alice@example.com",
    )
    assert not alice.has_usable_password()
    assert (alice.directory_profile.access, alice.directory_profile.time_zone) == (
        "own",
        "Europe/London",
    )
    assert sorted(alice.extensions.values_list("number", "valid_from", "valid_until"), key=str) == [
        ("8856", None, None),
        ("8857", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)),
    ]
    assert Profile.objects.get(user__username="bob").access == Access.OWN  # the default
    assert Profile.objects.get(user__username="bob").time_zone == "UTC"
    assert Profile.objects.get(user__username="dpo").access == Access.ALL
    sales = Group.objects.get(name="Sales")
    assert sorted(u.username for u in sales.members.all()) == ["alice", "bob"]
    assert [u.username for u in sales.supervisors.all()] == ["carol"]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(tmp_path):
    path = write(tmp_path, SPEC_FILE)
    run(path)
    first = snapshot()

    out = run(path)

    assert "0 users created, 4 updated" in out
    assert snapshot() == first


def test_two_users_owning_one_number_at_the_same_instant_are_refused_naming_the_entry(tmp_path):
    data = json.loads(json.dumps(SPEC_FILE))
    data["users"][1]["extensions"] = [{"number": "8857", "from": "2026-06-30T00:00:00Z"}]

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, data))

    message = str(refused.value)
    assert "users[1] (bob): extensions[0]" in message
    assert "8857 also belongs to alice" in message
    assert get_user_model().objects.count() == 0


def test_a_number_may_pass_from_one_user_to_another_at_an_instant(tmp_path):
    data = json.loads(json.dumps(SPEC_FILE))
    data["users"][1]["extensions"] = [{"number": "8857", "from": "2026-07-01T00:00:00Z"}]

    run(write(tmp_path, data))

    assert Extension.objects.filter(number="8857").count() == 2


def test_a_number_stored_for_a_user_the_file_does_not_name_is_checked_too(tmp_path):
    directory_user("zed", extensions=["8856"])

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, SPEC_FILE))

    assert "users[0] (alice): extensions[0] (8856): extension 8856 already belongs to zed" in str(
        refused.value
    )
    assert not get_user_model().objects.filter(username="alice").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["users"][0].update(time_zone="Mars/Olympus"), "time_zone 'Mars/Olympus'"),
        (lambda d: d["users"][0].update(access="some"), "access must be one of none, own, all"),
        (
            lambda d: d["groups"][0]["members"].append("ghost"),
            "groups[0] (Sales): unknown user 'ghost'",
        ),
        (
            lambda d: d["users"][0]["extensions"].append({"number": "9", "from": "yesterday"}),
            "users[0] (alice): extensions[2]: from must be an ISO 8601 time",
        ),
        (
            lambda d: d["users"].append({"username": "alice"}),
            "users[4] (alice): the user is named twice",
        ),
        (lambda d: d["users"][0].update(password="secret"), "unknown field password"),
        (
            # The number rule every call entry point keeps (calls/rules.py): no call could
            # carry this number, so owning it would match nothing.
            lambda d: d["users"][0]["extensions"].append("88\x1b56"),
            "users[0] (alice): extensions[2]: number must be text of 1 to 64 characters, "
            "without control characters",
        ),
    ],
)
def test_any_error_names_its_entry_and_changes_nothing(tmp_path, change, expected):
    run(write(tmp_path, {"users": [{"username": "alice", "access": "all"}], "groups": []}))
    before = snapshot()
    data = json.loads(json.dumps(SPEC_FILE))
    change(data)

    with pytest.raises(CommandError) as refused:
        run(write(tmp_path, data))

    assert expected in str(refused.value)
    assert "Nothing was imported" in str(refused.value)
    assert snapshot() == before


def test_a_file_that_is_not_json_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not JSON"):
        run(write(tmp_path, "{users: nope"))


def test_prune_deactivates_the_users_the_file_does_not_name_but_never_a_superuser(
    tmp_path, django_user_model
):
    directory_user("leaver")
    django_user_model.objects.create_superuser("root", password="pw")

    out = run(write(tmp_path, SPEC_FILE), "--prune")

    assert "1 deactivated" in out
    assert not django_user_model.objects.get(username="leaver").is_active
    assert django_user_model.objects.get(username="root").is_active
    assert django_user_model.objects.get(username="alice").is_active


def test_without_prune_nobody_is_deactivated(tmp_path, django_user_model):
    directory_user("stays")

    run(write(tmp_path, SPEC_FILE))

    assert django_user_model.objects.get(username="stays").is_active


def test_the_file_replaces_a_named_user_s_extensions(tmp_path):
    run(write(tmp_path, SPEC_FILE))
    data = json.loads(json.dumps(SPEC_FILE))
    data["users"][0]["extensions"] = ["9999"]

    run(write(tmp_path, data))

    assert list(
        Extension.objects.filter(user__username="alice").values_list("number", flat=True)
    ) == ["9999"]


def test_an_administrator_uploads_the_directory_file_in_the_admin(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(root)
    page = client.get("/admin/directory/group/")
    assert b"Import a directory file" in page.content
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("d.json", json.dumps(SPEC_FILE).encode(), "application/json")
    answer = client.post("/admin/directory/group/import/", {"file": upload}, follow=True)

    assert answer.status_code == 200
    assert b"Directory imported: 4 users created" in answer.content
    assert Group.objects.get(name="Sales").members.count() == 2


def test_the_admin_upload_shows_every_error_and_changes_nothing(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(root)
    data = json.loads(json.dumps(SPEC_FILE))
    data["users"][0]["time_zone"] = "Nowhere/Land"
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("d.json", json.dumps(data).encode(), "application/json")
    answer = client.post("/admin/directory/group/import/", {"file": upload})

    assert answer.status_code == 200
    assert b"Nothing was imported" in answer.content
    assert b"Nowhere/Land" in answer.content
    assert not get_user_model().objects.filter(username="alice").exists()


def test_the_admin_refuses_an_extension_that_overlaps_another_user_s(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="pw")
    directory_user("alice", extensions=["8856"])
    bob = directory_user("bob")
    client.force_login(root)
    page = client.get(f"/admin/auth/user/{bob.pk}/change/")
    assert page.status_code == 200
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

    answer = client.post(f"/admin/auth/user/{bob.pk}/change/", form)

    assert answer.status_code == 200, "the form comes back with the error"
    assert (
        "Extension 8856 already belongs to alice (always) at the same time."
        in answer.content.decode()
    )
    assert not Extension.objects.filter(user=bob).exists()
